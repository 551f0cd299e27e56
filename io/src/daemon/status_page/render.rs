//! The status page and its login form as HTML, rendered with maud (which
//! escapes every value it inserts: job names, commands and agent URLs are
//! user input). Everything the page needs is in it: the style is inline,
//! there is no script, and it refreshes itself with a meta refresh.

use harpoon_core::ConnectionState;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::daemon::rollouts_api::{RolloutJson, RolloutSide};

use super::rollouts::RolloutsShown;
use super::snapshot::{
    AGENTS_PER_PAGE, AgentRow, JOBS_PER_PAGE, JobRow, PageRequest, StatusSnapshot,
};

/// How often the page reloads itself, in seconds.
pub const REFRESH_SECONDS: u32 = 5;

const STYLE: &str = include_str!("style.css");

/// The status page.
pub fn status_page(snapshot: &StatusSnapshot, logout: bool) -> String {
    let gauges = &snapshot.gauges;
    let body = html! {
        header {
            h1 { "harpoon scheduler" }
            @if !snapshot.ready { p.warn { "The registry is still loading." } }
            dl #summary {
                div { dt { "agents connected" } dd #agents-connected { (gauges.agents_connected) " of " (gauges.agents_known) } }
                div { dt { "agents avoided" } dd { (gauges.agents_avoided) } }
                div { dt { "agents draining" } dd #agents-draining { (gauges.agents_draining) } }
                div { dt { "tasks desired" } dd #tasks-desired { (gauges.tasks_desired) } }
                div { dt { "running" } dd #tasks-running { (gauges.tasks_running) } }
                div { dt { "pending" } dd { (gauges.tasks_pending) } }
                div { dt { "unplaced" } dd.bad[gauges.tasks_unplaced > 0] { (gauges.tasks_unplaced) } }
                div { dt { "jobs" } dd { (snapshot.jobs_total) } }
                div { dt { "rollouts running" } dd #rollouts-running { (gauges.rollouts_running) } }
                div { dt { "registry index" } dd #registry-index { (snapshot.registry_index) } }
            }
        }
        section #jobs {
            h2 { "Jobs" }
            (pager("jobs", snapshot.page, snapshot.page.jobs_from, snapshot.jobs.len(), snapshot.jobs_total, JOBS_PER_PAGE))
            @if snapshot.jobs.is_empty() {
                p.empty { "No job is scheduled." }
            } @else {
                table {
                    thead { tr { th { "job" } th { "product/env" } th { "hash" } th { "command" } th.n { "scale" } th.n { "running" } th.n { "pending" } th.n { "unplaced" } th { "why unplaced" } } }
                    tbody { @for job in &snapshot.jobs { (job_row(job)) } }
                }
            }
        }
        // Between the jobs they change and the agents they move tasks on.
        (rollouts_section(&snapshot.rollouts))
        section #agents {
            h2 { "Agents" }
            (pager("agents", snapshot.page, snapshot.page.agents_from, snapshot.agents.len(), gauges.agents_known as usize, AGENTS_PER_PAGE))
            @if snapshot.agents.is_empty() {
                p.empty { "Discovery lists no agent." }
            } @else {
                table {
                    thead { tr { th { "agent" } th { "state" } th { "cpu committed" } th { "memory committed" } th.n { "running" } th.n { "created" } th.n { "creating" } th.n { "failed" } th.n { "finished" } } }
                    tbody { @for agent in &snapshot.agents { (agent_row(agent)) } }
                }
            }
        }
        section #decisions {
            h2 { "Recent decisions" }
            @if snapshot.decisions.is_empty() {
                p.empty { "None yet." }
            } @else {
                ol {
                    @for line in &snapshot.decisions {
                        li { span.at { (line.at) } " " span.subject { (line.subject) } " " span.message { (line.message) } }
                    }
                }
            }
        }
        footer {
            "Refreshes every " (REFRESH_SECONDS) " s."
            @if logout {
                form method="post" action="/ui/logout" { button type="submit" { "Log out" } }
            }
        }
    };
    document("harpoon scheduler", Some(REFRESH_SECONDS), body)
}

/// The login form, with why the last attempt failed, if it did.
pub fn login_page(failure: Option<&str>) -> String {
    let body = html! {
        header { h1 { "harpoon scheduler" } }
        section #login {
            p { "This scheduler needs its token (the one given with --token)." }
            @if let Some(failure) = failure { p.bad #login-failure { (failure) } }
            form method="post" action="/ui/login" {
                label for="token" { "Token " }
                input #token type="password" name="token" autocomplete="current-password" autofocus;
                " "
                button type="submit" { "Log in" }
            }
        }
    };
    document("harpoon scheduler: log in", None, body)
}

fn document(title: &str, refresh: Option<u32>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = refresh { meta http-equiv="refresh" content=(seconds); }
                // An empty icon, so that a browser does not ask for
                // /favicon.ico (a 404 in the log) at every refresh.
                link rel="icon" href="data:,";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
    .into_string()
}

fn job_row(job: &JobRow) -> Markup {
    let tasks = &job.tasks;
    html! {
        tr.job data-job=(job.name) data-running=(tasks.running) {
            td.name { (job.name) }
            td { (job.product) }
            td.hash { (job.hash) }
            td.command { code { (job.command) } }
            td.n { (tasks.desired) }
            td.n.running.short[tasks.running < tasks.desired] { (tasks.running) }
            td.n { (tasks.pending) }
            td.n.bad[tasks.unplaced > 0] { (tasks.unplaced) }
            td.reason { @if let Some(reason) = &job.unplaced_reason { (reason) } }
        }
    }
}

fn agent_row(agent: &AgentRow) -> Markup {
    let counts = &agent.containers;
    let state = match agent.state {
        ConnectionState::Connecting => "connecting",
        ConnectionState::Open => "open",
        ConnectionState::Synced => "synced",
        ConnectionState::Down => "down",
        ConnectionState::Abandoned => "abandoned",
    };
    html! {
        tr.agent data-agent=(agent.id) data-state=(state) data-draining=[agent.draining] {
            td.name { (agent.id) }
            td.(state) {
                (state)
                @if agent.avoided { " (avoided)" }
                @if let Some(remaining) = agent.draining {
                    " " span.draining { "draining, " (remaining) (if remaining == 1 { " task left" } else { " tasks left" }) }
                }
            }
            td { (bar(agent.cpu_committed_millis, agent.cpu_total_millis, &format!("{} of {} cpu", cores(agent.cpu_committed_millis), cores(agent.cpu_total_millis)))) }
            td { (bar(agent.mem_committed_mb, agent.mem_total_mb, &format!("{} of {} MB", agent.mem_committed_mb, agent.mem_total_mb))) }
            td.n.running { (counts.running) }
            td.n { (counts.created) }
            td.n { (counts.creating) }
            td.n.bad[counts.failed > 0] { (counts.failed) }
            td.n { (counts.finished) }
        }
    }
}

fn rollouts_section(rollouts: &RolloutsShown) -> Markup {
    html! {
        section #rollouts {
            h2 { "Rollouts" }
            @if rollouts.running.is_empty() {
                p.empty { "No rollout is running." }
            } @else {
                @if rollouts.running.len() < rollouts.running_total {
                    p.pager { "The first " (rollouts.running.len()) " of " (rollouts.running_total) " running." }
                }
                (rollout_table(&rollouts.running, "waiting for"))
            }
            @if !rollouts.finished.is_empty() {
                h3 { "Recently finished" }
                (rollout_table(&rollouts.finished, "outcome"))
            }
        }
    }
}

/// Rollouts in a table; `note` heads the last column (why a running one
/// waits, how a finished one ended).
fn rollout_table(rollouts: &[RolloutJson], note: &str) -> Markup {
    html! {
        table {
            thead { tr { th.n { "id" } th { "status" } th.n { "step" } th { "from" } th.n { "old running" } th { "to" } th.n { "new healthy" } th.n { "new running" } th { (note) } } }
            tbody {
                @for rollout in rollouts {
                    tr.rollout data-rollout=(rollout.id) data-status=(rollout.status) {
                        td.n { (rollout.id) }
                        td class={ "status-" (rollout.status) } { (rollout.status) }
                        td.n { (rollout.step) }
                        td { (side(&rollout.from)) }
                        td.n { (rollout.from.running) " of " (rollout.from.wanted) " wanted (scale " (rollout.from.scale) ")" }
                        td { (side(&rollout.to)) }
                        td.n { @if let Some(healthy) = rollout.to.healthy { (healthy) " of " (rollout.to.scale) } }
                        td.n { (rollout.to.running) " of " (rollout.to.wanted) " wanted (scale " (rollout.to.scale) ")" }
                        td.reason {
                            @if let Some(waiting) = &rollout.waiting { (waiting) }
                            @if let Some(outcome) = &rollout.outcome { (outcome) }
                        }
                    }
                }
            }
        }
    }
}

fn side(side: &RolloutSide) -> Markup {
    html! { span.name { (side.job) } " " span.hash { (side.hash) } }
}

/// A committed-of-total bar: a `<meter>` (no style or script needed), and
/// the figures as text.
fn bar(committed: u64, total: u64, label: &str) -> Markup {
    html! {
        meter min="0" max=(total.max(1)) high=((total * 9 / 10).max(1)) value=(committed.min(total.max(1))) title=(label) {}
        " " span.figures { (label) }
    }
}

fn cores(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        format!("{}", millis / 1000)
    } else {
        format!("{:.3}", millis as f64 / 1000.0)
            .trim_end_matches('0')
            .to_owned()
    }
}

/// Links to the previous and next page of `which` (`agents` or `jobs`),
/// keeping the other's page.
fn pager(
    which: &str,
    page: PageRequest,
    from: usize,
    shown: usize,
    total: usize,
    per_page: usize,
) -> Markup {
    let link = |start: usize| {
        let mut page = page;
        match which {
            "agents" => page.agents_from = start,
            _ => page.jobs_from = start,
        }
        format!(
            "/?agents={}&jobs={}#{which}",
            page.agents_from, page.jobs_from
        )
    };
    html! {
        p.pager {
            @if shown == 0 { (total) " in all" }
            @else { (from + 1) "–" (from + shown) " of " (total) }
            @if from > 0 { " " a href=(link(from.saturating_sub(per_page))) { "previous" } }
            @if from + shown < total { " " a href=(link(from + shown)) { "next" } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::snapshot::ContainerCounts;
    use super::*;
    use harpoon_core::JobTaskCounts;

    fn snapshot_with_job(name: &str, command: &str) -> StatusSnapshot {
        StatusSnapshot {
            ready: true,
            jobs_total: 1,
            jobs: vec![JobRow {
                name: name.to_owned(),
                product: "demo/test".to_owned(),
                hash: "0123456789abcdef".to_owned(),
                command: command.to_owned(),
                tasks: JobTaskCounts {
                    desired: 2,
                    running: 1,
                    pending: 0,
                    unplaced: 1,
                },
                unplaced_reason: Some("needs 2 cpu; largest free is 1 on <a1>".to_owned()),
            }],
            agents: vec![AgentRow {
                id: "http://a1:3333\"><script>alert(1)</script>".to_owned(),
                state: ConnectionState::Synced,
                avoided: false,
                draining: None,
                cpu_committed_millis: 1500,
                cpu_total_millis: 4000,
                mem_committed_mb: 64,
                mem_total_mb: 1024,
                containers: ContainerCounts::default(),
            }],
            ..StatusSnapshot::default()
        }
    }

    #[test]
    fn user_input_is_escaped_everywhere_it_is_shown() {
        let page = status_page(
            &snapshot_with_job(
                "<script>alert('name')</script>",
                "sh -c '<script>alert(1)</script>'",
            ),
            false,
        );
        assert!(!page.contains("<script"), "no script element: {page}");
        assert!(page.contains("&lt;script&gt;alert('name')&lt;/script&gt;"));
        assert!(page.contains("sh -c '&lt;script&gt;alert(1)&lt;/script&gt;'"));
        assert!(page.contains("on &lt;a1&gt;"), "the reason is escaped too");
        assert!(
            page.contains("data-agent=\"http://a1:3333&quot;&gt;&lt;script&gt;"),
            "attribute values are escaped"
        );
    }

    #[test]
    fn the_page_refreshes_itself_and_shows_counts_and_bars() {
        let page = status_page(&snapshot_with_job("web", "./run"), true);
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert!(page.contains("<link rel=\"icon\" href=\"data:,\">"));
        assert!(page.contains("data-job=\"web\" data-running=\"1\""));
        assert!(page.contains("1.5 of 4 cpu"));
        assert!(page.contains("action=\"/ui/logout\""));
        assert!(page.contains("needs 2 cpu"));
    }

    #[test]
    fn the_pager_links_the_next_and_previous_pages_keeping_the_other() {
        let page = PageRequest {
            agents_from: 100,
            jobs_from: 7,
        };
        let html = pager("agents", page, 100, 100, 250, 100).into_string();
        assert!(html.contains("101–200 of 250"), "{html}");
        assert!(
            html.contains("href=\"/?agents=0&amp;jobs=7#agents\""),
            "{html}"
        );
        assert!(
            html.contains("href=\"/?agents=200&amp;jobs=7#agents\""),
            "{html}"
        );
        let last = pager("agents", page, 200, 50, 250, 100).into_string();
        assert!(!last.contains("next"), "{last}");
    }

    fn rollout(id: u64, status: &str, waiting: Option<&str>, outcome: Option<&str>) -> RolloutJson {
        let side = |job: &str, hash: &str, healthy| RolloutSide {
            hash: hash.to_owned(),
            job: job.to_owned(),
            scale: 3,
            wanted: 2,
            running: 1,
            healthy,
        };
        RolloutJson {
            id,
            status: status.to_owned(),
            step: 4,
            from: side("web", "web-1111111", None),
            to: side("<b>web</b>", "web-2222222", Some(1)),
            max_surge: 1,
            max_unavailable: 0,
            min_healthy: "10s".to_owned(),
            progress_deadline: "5m".to_owned(),
            auto_revert: true,
            waiting: waiting.map(str::to_owned),
            outcome: outcome.map(str::to_owned),
        }
    }

    #[test]
    fn running_and_finished_rollouts_are_shown_with_their_counts_and_why() {
        let mut snapshot = snapshot_with_job("web", "./run");
        snapshot.gauges.rollouts_running = 1;
        snapshot.rollouts = RolloutsShown {
            running: vec![rollout(
                7,
                "running",
                Some("waiting for 1 of 2 new tasks"),
                None,
            )],
            running_total: 1,
            finished: vec![rollout(6, "reverted", None, Some("no progress for 5m"))],
        };
        let page = status_page(&snapshot, false);
        assert!(page.contains("id=\"rollouts-running\">1<"), "{page}");
        assert!(
            page.contains("data-rollout=\"7\" data-status=\"running\""),
            "{page}"
        );
        assert!(page.contains("web-1111111"));
        assert!(
            page.contains("&lt;b&gt;web&lt;/b&gt;"),
            "job names are escaped"
        );
        assert!(page.contains("1 of 3"), "new healthy of scale: {page}");
        assert!(page.contains("1 of 2 wanted (scale 3)"), "{page}");
        assert!(page.contains("waiting for 1 of 2 new tasks"));
        assert!(page.contains("Recently finished"));
        assert!(page.contains("data-rollout=\"6\" data-status=\"reverted\""));
        assert!(page.contains("no progress for 5m"));
        assert!(!page.contains("No rollout is running."));

        let idle = status_page(&snapshot_with_job("web", "./run"), false);
        assert!(idle.contains("No rollout is running."));
        assert!(!idle.contains("Recently finished"));
    }

    #[test]
    fn a_drained_agent_is_marked_with_the_tasks_it_still_holds() {
        let mut snapshot = snapshot_with_job("web", "./run");
        snapshot.gauges.agents_draining = 1;
        snapshot.agents[0].draining = Some(2);
        let page = status_page(&snapshot, false);
        assert!(page.contains("data-draining=\"2\""), "{page}");
        assert!(page.contains("draining, 2 tasks left"), "{page}");
        assert!(page.contains("id=\"agents-draining\">1<"), "{page}");
        snapshot.agents[0].draining = None;
        let page = status_page(&snapshot, false);
        assert!(!page.contains("data-draining"), "{page}");
        assert!(!page.contains("tasks left"), "{page}");
    }

    #[test]
    fn cores_are_shown_without_trailing_zeros() {
        assert_eq!(cores(4000), "4");
        assert_eq!(cores(1500), "1.5");
        assert_eq!(cores(2), "0.002");
    }
}
