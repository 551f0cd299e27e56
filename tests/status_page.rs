//! The daemon's status page over HTTP: served at `/`, escaped, and behind
//! a login form and an HttpOnly cookie when the daemon has a token. (The
//! page in a real browser: `tests/browser.rs`.)

mod support;

use std::time::Duration;

use support::*;

const SETTLE: Duration = Duration::from_secs(60);

fn address(url: &str) -> &str {
    url.trim_start_matches("http://")
}

#[test]
fn the_page_shows_agents_and_jobs_with_user_input_escaped() {
    let env = TestEnv::new("status-page");
    let scheduler = env.scheduler_with_local_agents(2, &[]);
    let url = &scheduler.url;
    let mut job = env.job("web", 2);
    job["command"]["exec"]
        .as_array_mut()
        .expect("exec")
        .push("<script>alert(1)</script>".into());
    schedule(url, &job);
    wait_for("two running instances", SETTLE, || {
        (proxy(url).iter().filter(|(_, _, s)| s == "running").count() == 2).then_some(())
    });
    let page = raw_http::request(address(url), "GET", "/", &[], None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.header("content-security-policy")
            .is_some_and(|csp| csp.contains("default-src 'none'")),
        "no script may run: {:?}",
        page.headers
    );
    assert_eq!(page.body.matches("<tr class=\"agent\"").count(), 2);
    assert!(page.body.contains("data-job=\"web\" data-running=\"2\""));
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.body.contains("<script"), "{}", page.body);
    assert!(
        page.body.contains("placed on"),
        "placements among the recent decisions"
    );
    // A page past the agents there are shows none, and says how many.
    let past = raw_http::request(address(url), "GET", "/?agents=500", &[], None);
    assert_eq!(past.status, 200);
    assert_eq!(past.body.matches("<tr class=\"agent\"").count(), 0);
    assert!(past.body.contains("2 in all"), "{}", past.body);
}

#[test]
fn the_page_explains_unplaced_jobs_and_shows_rollouts_and_drained_agents() {
    let env = TestEnv::new("status-rollouts");
    let scheduler = env.scheduler_with_local_agents(2, &[]);
    let url = &scheduler.url;
    let at = address(url);
    let page = || {
        let page = raw_http::request(at, "GET", "/", &[], None);
        assert_eq!(page.status, 200, "{}", page.body);
        page.body
    };
    let web = env.job("web", 2);
    schedule(url, &web);
    wait_for("two running instances", SETTLE, || {
        (proxy(url).iter().filter(|(_, _, s)| s == "running").count() == 2).then_some(())
    });

    // A job no local agent has the memory for: its row gives the core's
    // explanation (agents evaluated, what ruled them out, the closest).
    let huge = env
        .guard
        .job("huge")
        .product("e2e", "test")
        .scale(1)
        .resources(64 * 1024 * 1024, 0.05)
        .json();
    schedule(url, &huge);
    let body = wait_for("the huge job explained on the page", SETTLE, || {
        let body = page();
        body.contains("1 task unplaced: 2 agents evaluated: 2 lacked memory; closest: http://")
            .then_some(body)
    });
    assert!(body.contains("needs 67,108,864 MB memory"), "{body}");

    // A rollout that waits a minute for its new tasks to count healthy is
    // shown running, with why it waits.
    let mut web2 = web.clone();
    web2["env"] = serde_json::json!({ "VERSION": "2" });
    let migrate = serde_json::json!({
        "from": web, "to": web2, "min_healthy": "1m", "progress_deadline": "10m"
    });
    let (status, text) = http(
        "POST",
        &format!("{url}/api/v0/migrate"),
        Some(&serde_json::to_vec(&migrate).unwrap()),
        None,
    );
    assert_eq!(status, 202, "{text}");
    // The page says why it waits in the API's words.
    let (id, body) = wait_for("the running rollout on the page", SETTLE, || {
        let rollouts = get_json(&format!("{url}/api/v0/rollouts"));
        let id = rollouts[0]["id"].as_u64()?;
        let waiting = rollouts[0]["waiting"].as_str()?.to_owned();
        let body = page();
        body.contains(&waiting).then_some((id, body))
    });
    assert!(body.contains("id=\"rollouts-running\">1<"), "{body}");
    assert!(
        body.contains(&format!(
            "<tr class=\"rollout\" data-rollout=\"{id}\" data-status=\"running\""
        )),
        "{body}"
    );

    // A drained agent is marked on its row and counted in the header.
    let agent = proxy(url)[0].0.clone();
    let drain = serde_json::json!({ "agent": agent });
    let (status, text) = http(
        "POST",
        &format!("{url}/api/v0/drain"),
        Some(&serde_json::to_vec(&drain).unwrap()),
        None,
    );
    assert_eq!(status, 202, "{text}");
    let body = wait_for("the drained agent on the page", SETTLE, || {
        let body = page();
        body.contains("id=\"agents-draining\">1<").then_some(body)
    });
    assert!(
        body.contains(&format!(
            "data-agent=\"{agent}\" data-state=\"synced\" data-draining="
        )),
        "{body}"
    );
    assert_eq!(body.matches("data-draining=").count(), 1, "{body}");
    assert!(body.contains("draining, "), "{body}");
}

#[test]
fn with_a_token_the_page_needs_a_login_whose_cookie_opens_the_page_only() {
    let env = TestEnv::new("status-login");
    let scheduler = Proc::start_logging(
        "harpoon-scheduler",
        &[
            "--listen",
            "127.0.0.1:0",
            "--token",
            "s3cret",
            "--persist",
            &env.path("registry.redb"),
        ],
        "info",
    );
    let at = address(&scheduler.url);
    let login_form = raw_http::request(at, "GET", "/", &[], None);
    assert_eq!(login_form.status, 401);
    assert!(login_form.body.contains("action=\"/ui/login\""));
    assert!(!login_form.body.contains("Recent decisions"));

    let form = [("content-type", "application/x-www-form-urlencoded")];
    let wrong = raw_http::request(at, "POST", "/ui/login", &form, Some(b"token=guess"));
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("That is not the token."));
    assert!(wrong.header("set-cookie").is_none());

    let right = raw_http::request(at, "POST", "/ui/login", &form, Some(b"token=s3cret"));
    assert_eq!(right.status, 303, "{}", right.body);
    assert_eq!(right.header("location"), Some("/"));
    let cookie = right.header("set-cookie").expect("a cookie").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(!cookie.contains("s3cret"), "the cookie holds no token");
    let pair = cookie.split(';').next().expect("name=value").to_owned();

    let page = raw_http::request(at, "GET", "/", &[("cookie", &pair)], None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Recent decisions"));
    assert!(page.body.contains("action=\"/ui/logout\""));
    let bearer = raw_http::request(at, "GET", "/", &[("authorization", "Bearer s3cret")], None);
    assert_eq!(bearer.status, 200, "the API's token opens the page too");

    let api = raw_http::request(at, "GET", "/api/v0/registry", &[("cookie", &pair)], None);
    assert_eq!(api.status, 401, "the cookie opens the page, not the API");

    let logout = raw_http::request(at, "POST", "/ui/logout", &[("cookie", &pair)], None);
    assert_eq!(logout.status, 303);
    assert!(
        logout
            .header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );

    let log = scheduler.stderr().join("\n");
    assert!(log.contains("path=/ui/login"), "requests are logged: {log}");
    assert!(
        !log.contains("s3cret"),
        "the token is in no log line: {log}"
    );
}
