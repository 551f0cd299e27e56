//! The chart's geometry: every shape's position computed from times, kept
//! apart from the HTML so that tests can check where things are.
//!
//! Up to [`MAX_DETAILED_LANES`] agents get a lane each, with one row per
//! container (rows reused once a container is gone); an agent whose
//! containers need more than [`MAX_ROWS_PER_LANE`] rows, and every agent
//! beyond the detailed lanes (grouped), get an aggregated lane instead: per
//! column of time, how many containers were in each status, stacked.

use std::collections::BTreeMap;

use harpoon_core::Instant;

use super::recording::{BarStatus, ContainerLife, FaultSpan, Recording};

/// Agents shown with a lane each; more are grouped into aggregated lanes.
pub const MAX_DETAILED_LANES: usize = 40;
/// Container rows one agent's lane shows; more make it aggregated.
pub const MAX_ROWS_PER_LANE: usize = 32;
/// Width of the lane names, px.
pub const PLOT_LEFT: f64 = 150.0;
/// Width of the time axis, px.
pub const PLOT_WIDTH: f64 = 1200.0;
/// Height of one container row, px.
const ROW_HEIGHT: f64 = 7.0;
/// Height of a bar within its row, px.
const BAR_HEIGHT: f64 = 5.0;
/// Space above and below a lane's rows, px.
const LANE_PADDING: f64 = 5.0;
/// Height of an aggregated lane, px.
const AGGREGATED_HEIGHT: f64 = 44.0;
/// Height of the time axis, px.
const AXIS_HEIGHT: f64 = 22.0;
/// Height of the user actions' lane, px.
const ACTIONS_HEIGHT: f64 = 20.0;
/// Time columns of an aggregated lane.
const AGGREGATED_COLUMNS: usize = 300;
/// Transitions listed in a bar's hover title; more are counted.
const TRANSITIONS_LISTED: usize = 20;

/// A rectangle with its class (for colour) and hover title.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    /// Left, px.
    pub x: f64,
    /// Top, px.
    pub y: f64,
    /// Width, px.
    pub width: f64,
    /// Height, px.
    pub height: f64,
    /// CSS classes.
    pub class: String,
    /// Hover title.
    pub title: String,
    /// When it starts and ends, ms (for a reader of the SVG).
    pub from_ms: u64,
    /// When it ends, ms.
    pub to_ms: u64,
}

/// One lane: an agent, a group of agents, or the user actions.
#[derive(Clone, Debug, PartialEq)]
pub struct Lane {
    /// Its name, at the left.
    pub name: String,
    /// The agents it shows (empty for the actions' lane).
    pub agents: Vec<String>,
    /// Top, px.
    pub y: f64,
    /// Height, px.
    pub height: f64,
    /// Whether it shows counts rather than a bar per container.
    pub aggregated: bool,
    /// Its shapes: bars, fault spans, markers.
    pub shapes: Vec<Shape>,
}

/// The whole chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Total width, px.
    pub width: f64,
    /// Total height, px.
    pub height: f64,
    /// When the run ended, ms: the right end of the axis.
    pub end_ms: u64,
    /// Axis ticks: x and label.
    pub ticks: Vec<(f64, String)>,
    /// The lanes, top to bottom (the actions' first).
    pub lanes: Vec<Lane>,
    /// Shapes across every agent lane: scheduler down, disk failing,
    /// failures.
    pub across: Vec<Shape>,
}

/// The x of time `at` on an axis ending at `end_ms`.
pub fn x_of(at: Instant, end_ms: u64) -> f64 {
    PLOT_LEFT + PLOT_WIDTH * (at.as_millis().min(end_ms) as f64) / (end_ms.max(1) as f64)
}

/// Lays `recording` out.
pub fn layout(recording: &Recording) -> Layout {
    let end_ms = recording.end.as_millis().max(1);
    let x = |at: Instant| x_of(at, end_ms);
    let span = |from: Instant, to: Instant| (x(from), (x(to) - x(from)).max(1.5));
    let mut lanes = Vec::new();
    let mut y = AXIS_HEIGHT;
    let mut actions = Lane {
        name: "user actions".to_owned(),
        agents: Vec::new(),
        y,
        height: ACTIONS_HEIGHT,
        aggregated: false,
        shapes: Vec::new(),
    };
    for marker in &recording.actions {
        actions.shapes.push(Shape {
            x: x(marker.at) - 1.0,
            y: y + 3.0,
            width: 2.5,
            height: ACTIONS_HEIGHT - 6.0,
            class: "action".to_owned(),
            title: marker.label.clone(),
            from_ms: marker.at.as_millis(),
            to_ms: marker.at.as_millis(),
        });
    }
    lanes.push(actions);
    y += ACTIONS_HEIGHT;

    let mut lives_of: BTreeMap<&str, Vec<&ContainerLife>> = BTreeMap::new();
    for life in &recording.lives {
        lives_of.entry(life.agent.as_str()).or_default().push(life);
    }
    let groups: Vec<Vec<String>> = if recording.agents.len() <= MAX_DETAILED_LANES {
        recording
            .agents
            .iter()
            .map(|agent| vec![agent.clone()])
            .collect()
    } else {
        let per_lane = recording.agents.len().div_ceil(MAX_DETAILED_LANES);
        recording
            .agents
            .chunks(per_lane)
            .map(<[String]>::to_vec)
            .collect()
    };
    let agent_lanes_top = y;
    for agents in groups {
        let lives: Vec<&ContainerLife> = agents
            .iter()
            .flat_map(|agent| lives_of.get(agent.as_str()).into_iter().flatten().copied())
            .collect();
        let rows = (agents.len() == 1).then(|| pack_rows(&lives));
        let name = match agents.as_slice() {
            [one] => one.clone(),
            [first, .., last] => format!("{first} … {last} ({} agents)", agents.len()),
            [] => String::new(),
        };
        let detailed = rows.as_ref().filter(|rows| rows.len() <= MAX_ROWS_PER_LANE);
        let mut lane = Lane {
            name,
            agents: agents.clone(),
            y,
            height: match detailed {
                Some(rows) => 2.0 * LANE_PADDING + ROW_HEIGHT * rows.len().max(1) as f64,
                None => AGGREGATED_HEIGHT,
            },
            aggregated: detailed.is_none(),
            shapes: Vec::new(),
        };
        for fault in recording
            .faults
            .iter()
            .filter(|fault| agents.contains(&fault.agent))
        {
            lane.shapes.push(fault_shape(fault, &lane, end_ms));
        }
        match detailed {
            Some(rows) => {
                for (row, lives) in rows.iter().enumerate() {
                    let top = y + LANE_PADDING + ROW_HEIGHT * row as f64;
                    for life in lives {
                        let title = life_title(life);
                        for segment in &life.segments {
                            let (left, width) = span(segment.from, segment.to);
                            lane.shapes.push(Shape {
                                x: left,
                                y: top,
                                width,
                                height: BAR_HEIGHT,
                                class: format!("bar {}", segment.status.name()),
                                title: title.clone(),
                                from_ms: segment.from.as_millis(),
                                to_ms: segment.to.as_millis(),
                            });
                        }
                        if let (true, Some(last)) = (life.removed, life.segments.last()) {
                            lane.shapes.push(Shape {
                                x: x(last.to) - 0.75,
                                y: top - 1.0,
                                width: 1.5,
                                height: BAR_HEIGHT + 2.0,
                                class: "removed".to_owned(),
                                title: title.clone(),
                                from_ms: last.to.as_millis(),
                                to_ms: last.to.as_millis(),
                            });
                        }
                    }
                }
            }
            None => lane.shapes.extend(aggregated_shapes(&lives, &lane, end_ms)),
        }
        y += lane.height;
        lanes.push(lane);
    }

    let mut across = Vec::new();
    for band in &recording.bands {
        let (left, width) = span(band.from, band.to);
        across.push(Shape {
            x: left,
            y: agent_lanes_top,
            width,
            height: y - agent_lanes_top,
            class: if band.scheduler_down {
                "band scheduler-down"
            } else {
                "band disk-failing"
            }
            .to_owned(),
            title: band.label.clone(),
            from_ms: band.from.as_millis(),
            to_ms: band.to.as_millis(),
        });
    }
    for failure in &recording.failures {
        across.push(Shape {
            x: x(failure.at) - 1.0,
            y: AXIS_HEIGHT,
            width: 2.0,
            height: y - AXIS_HEIGHT,
            class: "failure".to_owned(),
            title: failure.label.clone(),
            from_ms: failure.at.as_millis(),
            to_ms: failure.at.as_millis(),
        });
    }
    Layout {
        width: PLOT_LEFT + PLOT_WIDTH + 20.0,
        height: y + 4.0,
        end_ms,
        ticks: ticks(end_ms),
        lanes,
        across,
    }
}

/// Puts each life in the first row free when it starts, in start order.
fn pack_rows<'a>(lives: &[&'a ContainerLife]) -> Vec<Vec<&'a ContainerLife>> {
    let mut ordered: Vec<&ContainerLife> = lives.to_vec();
    ordered.sort_by_key(|life| (start(life), life.container.clone()));
    let mut rows: Vec<(Instant, Vec<&ContainerLife>)> = Vec::new();
    for life in ordered {
        let begins = start(life);
        match rows.iter_mut().find(|(free_from, _)| *free_from < begins) {
            Some((free_from, row)) => {
                *free_from = finish(life);
                row.push(life);
            }
            None => rows.push((finish(life), vec![life])),
        }
    }
    rows.into_iter().map(|(_, row)| row).collect()
}

fn start(life: &ContainerLife) -> Instant {
    life.segments
        .first()
        .map_or(Instant::ZERO, |segment| segment.from)
}

fn finish(life: &ContainerLife) -> Instant {
    life.segments
        .last()
        .map_or(Instant::ZERO, |segment| segment.to)
}

fn fault_shape(fault: &FaultSpan, lane: &Lane, end_ms: u64) -> Shape {
    let left = x_of(fault.from, end_ms);
    Shape {
        x: left,
        y: lane.y + 1.0,
        width: (x_of(fault.to, end_ms) - left).max(2.0),
        height: lane.height - 2.0,
        class: format!("fault {}", fault.kind.name()),
        title: fault.label.clone(),
        from_ms: fault.from.as_millis(),
        to_ms: fault.to.as_millis(),
    }
}

/// The hover title of a container's bar: its ID, agent and every
/// transition (the first [`TRANSITIONS_LISTED`]).
fn life_title(life: &ContainerLife) -> String {
    let mut title = format!("{} on {}", life.container, life.agent);
    for segment in life.segments.iter().take(TRANSITIONS_LISTED) {
        title.push_str(&format!("\n{} {}", segment.from, segment.status.name()));
    }
    if life.segments.len() > TRANSITIONS_LISTED {
        title.push_str(&format!(
            "\n… {} more",
            life.segments.len() - TRANSITIONS_LISTED
        ));
    }
    if let (true, Some(last)) = (life.removed, life.segments.last()) {
        title.push_str(&format!("\n{} removed", last.to));
    }
    title
}

/// An aggregated lane's stacked counts: per column of time, the
/// containers in each status at some moment of it.
fn aggregated_shapes(lives: &[&ContainerLife], lane: &Lane, end_ms: u64) -> Vec<Shape> {
    let column_ms = end_ms.div_ceil(AGGREGATED_COLUMNS as u64).max(1);
    let columns = end_ms.div_ceil(column_ms) as usize;
    let mut counts = vec![[0u32; BarStatus::ALL.len()]; columns];
    for segment in lives.iter().flat_map(|life| &life.segments) {
        let first = (segment.from.as_millis() / column_ms) as usize;
        let last = (segment
            .to
            .as_millis()
            .saturating_sub(1)
            .max(segment.from.as_millis())
            / column_ms) as usize;
        let status = BarStatus::ALL
            .iter()
            .position(|&status| status == segment.status)
            .expect("every status is listed");
        for column in counts.iter_mut().take(last + 1).skip(first) {
            column[status] += 1;
        }
    }
    let most = counts
        .iter()
        .map(|column| column.iter().sum::<u32>())
        .max()
        .unwrap_or(0)
        .max(1);
    let inner = lane.height - 2.0 * LANE_PADDING;
    let mut shapes = Vec::new();
    for (column, statuses) in counts.iter().enumerate() {
        let from = Instant::from_millis(column as u64 * column_ms);
        let to = Instant::from_millis(((column as u64 + 1) * column_ms).min(end_ms));
        let left = x_of(from, end_ms);
        let width = (x_of(to, end_ms) - left).max(1.0);
        let mut bottom = lane.y + lane.height - LANE_PADDING;
        for (index, &count) in statuses.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let height = inner * f64::from(count) / f64::from(most);
            bottom -= height;
            let status = BarStatus::ALL[index];
            shapes.push(Shape {
                x: left,
                y: bottom,
                width,
                height,
                class: format!("bar {}", status.name()),
                title: format!("{from}–{to}: {count} {}", status.name()),
                from_ms: from.as_millis(),
                to_ms: to.as_millis(),
            });
        }
    }
    shapes
}

/// Round tick steps, ms: sub-second ones, then seconds and minutes.
const TICK_STEPS_MS: [u64; 22] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000,
    120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
];

/// Ticks at the first round step that makes at most a dozen (every hour
/// past that).
fn ticks(end_ms: u64) -> Vec<(f64, String)> {
    let step_ms = TICK_STEPS_MS
        .iter()
        .copied()
        .find(|step| end_ms / step <= 12)
        .unwrap_or_else(|| end_ms.div_ceil(12).next_multiple_of(3_600_000));
    (0..=end_ms / step_ms)
        .map(|index| {
            let at = Instant::from_millis(index * step_ms);
            (x_of(at, end_ms), tick_label(index * step_ms))
        })
        .collect()
}

fn tick_label(ms: u64) -> String {
    let (minutes, seconds) = (ms / 60_000, ms % 60_000 / 1000);
    match ms {
        ms if ms % 1000 != 0 => format!("{ms}ms"),
        ms if ms < 60_000 => format!("{seconds}s"),
        _ if seconds == 0 => format!("{minutes}m"),
        _ => format!("{minutes}m{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::recording::{Band, FaultKind, Marker, Segment};
    use super::*;

    fn at(seconds: u64) -> Instant {
        Instant::from_millis(seconds * 1000)
    }

    fn life(agent: &str, container: &str, from: u64, to: u64, status: BarStatus) -> ContainerLife {
        ContainerLife {
            agent: agent.to_owned(),
            container: container.to_owned(),
            segments: vec![Segment {
                from: at(from),
                to: at(to),
                status,
            }],
            removed: true,
        }
    }

    fn recording(agents: usize, lives: Vec<ContainerLife>) -> Recording {
        Recording {
            end: at(100),
            agents: (1..=agents).map(|n| format!("a{n}")).collect(),
            lives,
            ..Recording::default()
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn bars_faults_bands_and_markers_sit_at_their_times() {
        let mut recording = recording(2, vec![life("a1", "web-0", 10, 20, BarStatus::Running)]);
        recording.faults.push(FaultSpan {
            agent: "a2".to_owned(),
            from: at(25),
            to: at(50),
            kind: FaultKind::Crash,
            label: "crash a2".to_owned(),
        });
        recording.bands.push(Band {
            from: at(60),
            to: at(70),
            scheduler_down: true,
            label: "down".to_owned(),
        });
        recording.actions.push(Marker {
            at: at(5),
            label: "schedule web".to_owned(),
        });
        recording.failures.push(Marker {
            at: at(90),
            label: "FAILED".to_owned(),
        });
        let layout = layout(&recording);
        let per_second = PLOT_WIDTH / 100.0;
        assert_eq!(layout.lanes.len(), 3, "the actions' lane and one per agent");
        let bar = layout.lanes[1]
            .shapes
            .iter()
            .find(|shape| shape.class == "bar running")
            .expect("the bar");
        assert!(close(bar.x, PLOT_LEFT + 10.0 * per_second));
        assert!(close(bar.width, 10.0 * per_second));
        let removed = layout.lanes[1]
            .shapes
            .iter()
            .find(|s| s.class == "removed")
            .expect("end");
        assert!(close(removed.x + 0.75, PLOT_LEFT + 20.0 * per_second));
        assert!(bar.title.contains("web-0 on a1") && bar.title.contains("10.000s running"));
        let crash = &layout.lanes[2].shapes[0];
        assert_eq!(crash.class, "fault crash");
        assert!(close(crash.x, PLOT_LEFT + 25.0 * per_second));
        assert!(close(crash.width, 25.0 * per_second));
        assert!(
            crash.y >= layout.lanes[2].y
                && crash.y + crash.height <= layout.lanes[2].y + layout.lanes[2].height
        );
        let band = &layout.across[0];
        assert!(close(band.x, PLOT_LEFT + 60.0 * per_second));
        assert!(
            close(band.y, layout.lanes[1].y),
            "the band spans every agent lane"
        );
        assert!(close(
            band.y + band.height,
            layout.lanes[2].y + layout.lanes[2].height
        ));
        let failure = &layout.across[1];
        assert_eq!(failure.class, "failure");
        assert!(close(failure.x + 1.0, PLOT_LEFT + 90.0 * per_second));
        let action = &layout.lanes[0].shapes[0];
        assert!(close(action.x + 1.0, PLOT_LEFT + 5.0 * per_second));
    }

    #[test]
    fn containers_share_a_row_only_when_they_do_not_overlap() {
        let lives = [
            life("a1", "x-0", 0, 10, BarStatus::Running),
            life("a1", "x-1", 5, 15, BarStatus::Running),
            life("a1", "x-2", 12, 20, BarStatus::Running),
        ];
        let refs: Vec<&ContainerLife> = lives.iter().collect();
        let rows = pack_rows(&refs);
        let names: Vec<Vec<&str>> = rows
            .iter()
            .map(|row| row.iter().map(|life| life.container.as_str()).collect())
            .collect();
        assert_eq!(names, vec![vec!["x-0", "x-2"], vec!["x-1"]]);
    }

    #[test]
    fn many_agents_are_grouped_into_aggregated_lanes() {
        let lives = (1..=200)
            .map(|n| life(&format!("a{n}"), "web-0", 0, 50, BarStatus::Running))
            .collect();
        let layout = layout(&recording(200, lives));
        let agent_lanes = &layout.lanes[1..];
        assert!(agent_lanes.len() <= MAX_DETAILED_LANES);
        assert!(agent_lanes.iter().all(|lane| lane.aggregated));
        assert_eq!(
            agent_lanes
                .iter()
                .map(|lane| lane.agents.len())
                .sum::<usize>(),
            200
        );
        assert_eq!(agent_lanes[0].name, "a1 … a5 (5 agents)");
        // Half the run, five containers running per group, stacked to the
        // full height.
        let first = agent_lanes[0].shapes.first().expect("a column");
        assert_eq!(first.title, "0.000s–0.334s: 5 running");
        let columns_drawn = agent_lanes[0].shapes.len();
        assert!(
            columns_drawn <= AGGREGATED_COLUMNS / 2 + 1,
            "{columns_drawn} columns"
        );
    }

    #[test]
    fn an_agent_with_too_many_rows_gets_an_aggregated_lane() {
        let lives = (0..=MAX_ROWS_PER_LANE)
            .map(|n| life("a1", &format!("web-{n}"), 0, 100, BarStatus::Created))
            .collect();
        let layout = layout(&recording(1, lives));
        assert!(layout.lanes[1].aggregated);
        let few = (0..3)
            .map(|n| life("a1", &format!("web-{n}"), 0, 100, BarStatus::Created))
            .collect();
        assert!(!layout_of(few).lanes[1].aggregated);
    }

    fn layout_of(lives: Vec<ContainerLife>) -> Layout {
        layout(&recording(1, lives))
    }

    #[test]
    fn ticks_are_round_and_at_most_a_dozen() {
        let ticks = ticks(600_000);
        assert_eq!(ticks.len(), 11);
        assert_eq!(ticks[1].1, "1m");
        assert!(close(ticks[10].0, PLOT_LEFT + PLOT_WIDTH));
        assert_eq!(super::ticks(90_000)[1].1, "10s");
        let labels: Vec<String> = super::ticks(240_000).into_iter().map(|(_, l)| l).collect();
        assert_eq!(labels[..4], ["0s", "30s", "1m", "1m30s"]);
    }
}
