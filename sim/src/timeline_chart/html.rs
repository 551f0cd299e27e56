//! The chart as one self-contained HTML file: an inline SVG drawn from the
//! [`Layout`], its style inline, no script, nothing fetched. Hovering a
//! shape shows its SVG `<title>`. Rendered with maud, which escapes every
//! value (scenario names, container IDs and labels come from files).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::layout::{Layout, PLOT_LEFT, PLOT_WIDTH, Shape, layout};
use super::recording::{BarStatus, Recording};

const STYLE: &str = include_str!("chart.css");

/// The HTML file for `recording`.
pub fn render(recording: &Recording) -> String {
    let chart = layout(recording);
    let verdict = if recording.failures.is_empty() {
        "every expectation and invariant held".to_owned()
    } else {
        format!("{} failures", recording.failures.len())
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "timeline: " (recording.scenario) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (recording.scenario) }
                p.summary {
                    "seed " (recording.seed) ", " (recording.end) " simulated, "
                    (recording.agents.len()) " agents, " (recording.lives.len()) " container lives; "
                    span.(if recording.failures.is_empty() { "ok" } else { "bad" }) { (verdict) }
                }
                (legend())
                (svg(&chart))
                @if !recording.failures.is_empty() {
                    h2 { "Failures" }
                    ul.failures { @for failure in &recording.failures { li { (failure.at) " " (failure.label) } } }
                }
            }
        }
    }
    .into_string()
}

fn legend() -> Markup {
    html! {
        p.legend {
            @for status in BarStatus::ALL { span { svg width="14" height="10" { rect.bar.(status.name()) width="14" height="10" {} } " " (status.name()) } }
            span { svg width="14" height="10" { rect.removed width="3" height="10" {} } " removed" }
            @for (class, name) in [("fault crash", "crash"), ("fault partition", "partition"), ("fault slow", "slow link"), ("fault failing-starts", "failing starts"), ("fault broken-peer", "broken peer"), ("fault wipe", "wipe / stream drop"), ("band scheduler-down", "scheduler down"), ("band disk-failing", "disk failing"), ("failure", "failure")] {
                span { svg width="14" height="10" { rect class=(class) width="14" height="10" {} } " " (name) }
            }
        }
    }
}

fn svg(chart: &Layout) -> Markup {
    html! {
        svg #timeline xmlns="http://www.w3.org/2000/svg" width=(chart.width) height=(chart.height)
            viewBox=(format!("0 0 {} {}", chart.width, chart.height))
            data-plot-left=(PLOT_LEFT) data-plot-width=(PLOT_WIDTH) data-end-ms=(chart.end_ms) {
            g.axis {
                @for (x, label) in &chart.ticks {
                    line x1=(x) x2=(x) y1="16" y2=(chart.height) {}
                    text x=(x) y="12" { (label) }
                }
            }
            @for lane in &chart.lanes {
                g.lane.aggregated[lane.aggregated] data-agent=(lane.agents.join(" ")) {
                    rect.lane-bg x="0" y=(lane.y) width=(chart.width) height=(lane.height) {}
                    text.lane-name x="4" y=(lane.y + lane.height / 2.0 + 4.0) { title { (lane.name) } (short(&lane.name)) }
                    @for shape in &lane.shapes { (rect(shape)) }
                }
            }
            g.across { @for shape in &chart.across { (rect(shape)) } }
        }
    }
}

fn rect(shape: &Shape) -> Markup {
    html! {
        rect class=(shape.class) x=(format!("{:.2}", shape.x)) y=(format!("{:.2}", shape.y))
            width=(format!("{:.2}", shape.width)) height=(format!("{:.2}", shape.height))
            data-from-ms=(shape.from_ms) data-to-ms=(shape.to_ms) {
            title { (shape.title) }
        }
    }
}

/// A lane name cut to fit the names' column.
fn short(name: &str) -> String {
    const CHARS: usize = 22;
    match name.char_indices().nth(CHARS) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::recording::{ContainerLife, Marker, Segment};
    use super::*;
    use harpoon_core::Instant;

    #[test]
    fn the_file_is_self_contained_escaped_and_has_a_lane_per_agent() {
        let recording = Recording {
            scenario: "a <b>bold</b> name".to_owned(),
            seed: 3,
            end: Instant::from_millis(10_000),
            agents: vec!["a1".to_owned(), "a2".to_owned()],
            lives: vec![ContainerLife {
                agent: "a1".to_owned(),
                container: "web-0".to_owned(),
                segments: vec![Segment {
                    from: Instant::from_millis(1000),
                    to: Instant::from_millis(9000),
                    status: BarStatus::Running,
                }],
                removed: false,
            }],
            failures: vec![Marker {
                at: Instant::from_millis(5000),
                label: "FAILED <x>".to_owned(),
            }],
            ..Recording::default()
        };
        let html = render(&recording);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("<script"), "no script");
        assert!(
            !html.contains("src=") && !html.contains("href="),
            "nothing fetched"
        );
        assert!(html.contains("a &lt;b&gt;bold&lt;/b&gt; name"));
        assert!(html.contains("FAILED &lt;x&gt;"));
        assert_eq!(html.matches("data-agent=\"a1\"").count(), 1);
        assert_eq!(html.matches("data-agent=\"a2\"").count(), 1);
        assert!(html.contains("<title>web-0 on a1\n1.000s running</title>"));
    }
}
