//! Attempts per minute by outcome over the last hour, counted from attempt
//! records and drawn as an SVG bar chart on the server.

use std::time::{Duration, SystemTime};

use maud::{html, Markup};

use crate::store::{AttemptRecord, AttemptResult};

/// The minutes the chart covers.
pub(super) const MINUTES: usize = 60;

/// How an attempt ended, as the chart colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// A 2xx answer.
    Succeeded = 0,
    /// Any other answer.
    Refused = 1,
    /// No answer (connection, timeout, ...).
    NoResponse = 2,
}

impl Outcome {
    const ALL: [Self; 3] = [Self::Succeeded, Self::Refused, Self::NoResponse];

    fn of(result: &AttemptResult) -> Self {
        match result {
            AttemptResult::Response { status, .. } if (200..300).contains(status) => {
                Self::Succeeded
            }
            AttemptResult::Response { .. } => Self::Refused,
            AttemptResult::Error { .. } => Self::NoResponse,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded (2xx)",
            Self::Refused => "failed (other status)",
            Self::NoResponse => "no response",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Self::Succeeded => "#2e9e4f",
            Self::Refused => "#e08a00",
            Self::NoResponse => "#c62828",
        }
    }
}

/// Attempts counted per minute: index 0 is the minute an hour ago, the last
/// one the current minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Minutes {
    counts: [[u32; 3]; MINUTES],
    /// Whether the count stopped at its cap before reaching an hour back.
    pub(super) capped: bool,
}

impl Minutes {
    /// Counts the attempts of `records` that started in the hour before
    /// `now` (an attempt stamped later than `now` counts in the current
    /// minute).
    pub(super) fn count<'a>(
        now: SystemTime,
        records: impl IntoIterator<Item = &'a AttemptRecord>,
    ) -> Self {
        let mut counts = [[0u32; 3]; MINUTES];
        for record in records {
            let ago = now.duration_since(record.started_at).unwrap_or_default();
            let minute = (ago.as_secs() / 60) as usize;
            if minute >= MINUTES {
                continue;
            }
            let slot = &mut counts[MINUTES - 1 - minute][Outcome::of(&record.result) as usize];
            *slot = slot.saturating_add(1);
        }
        Self {
            counts,
            capped: false,
        }
    }

    /// The count of `outcome` in the minute at `index`.
    pub(super) fn get(&self, index: usize, outcome: Outcome) -> u32 {
        self.counts[index][outcome as usize]
    }

    fn total(&self, index: usize) -> u32 {
        self.counts[index]
            .iter()
            .fold(0u32, |a, b| a.saturating_add(*b))
    }

    fn sum(&self, outcome: Outcome) -> u64 {
        self.counts
            .iter()
            .map(|c| u64::from(c[outcome as usize]))
            .sum()
    }
}

/// The plot's size, in SVG units.
const WIDTH: u32 = 720;
const HEIGHT: u32 = 180;
const LEFT: u32 = 44;
const BOTTOM: u32 = 22;
const TOP: u32 = 8;
const SLOT: u32 = (WIDTH - LEFT - 8) / MINUTES as u32;

/// The chart.
pub(super) fn svg(minutes: &Minutes) -> Markup {
    let max = (0..MINUTES).map(|i| minutes.total(i)).max().unwrap_or(0);
    let scale_top = nice_ceiling(max);
    let plot = HEIGHT - BOTTOM - TOP;
    let height_of = |n: u32| -> u32 {
        if scale_top == 0 {
            0
        } else {
            (u64::from(n) * u64::from(plot) / u64::from(scale_top)) as u32
        }
    };
    let totals: Vec<(Outcome, u64)> = Outcome::ALL.iter().map(|o| (*o, minutes.sum(*o))).collect();
    let summary = totals
        .iter()
        .map(|(o, n)| format!("{n} {}", o.label()))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        div.chart {
            div.legend {
                @for (outcome, n) in &totals {
                    span { span.swatch style={ "background:" (outcome.colour()) } {} (outcome.label()) ": " (n) }
                }
                @if minutes.capped {
                    span.muted { "(only the most recent attempts were counted)" }
                }
            }
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
                width="100%" role="img" id="attempts-chart"
                aria-label={ "attempts per minute over the last hour: " (summary) } {
                title { "attempts per minute over the last hour: " (summary) }
                // The scale: the top line and the middle one.
                @for (value, y) in [(scale_top, TOP), (scale_top / 2, TOP + plot / 2), (0, TOP + plot)] {
                    line x1=(LEFT) x2=(WIDTH - 4) y1=(y) y2=(y) stroke="#e4e7ec" {}
                    text x=(LEFT - 6) y=(y + 4) text-anchor="end" font-size="11" fill="#667085" { (value) }
                }
                @for i in 0..MINUTES {
                    @let x = LEFT + i as u32 * SLOT + 1;
                    g {
                        title {
                            (MINUTES - 1 - i) " min ago: "
                            (minutes.get(i, Outcome::Succeeded)) " succeeded, "
                            (minutes.get(i, Outcome::Refused)) " failed, "
                            (minutes.get(i, Outcome::NoResponse)) " no response"
                        }
                        @for (outcome, top, h) in stack(minutes, i, &height_of) {
                            rect x=(x) y=(top) width=(SLOT - 2) height=(h)
                                fill=(outcome.colour()) class="bar" {}
                        }
                        // An invisible full-height target, so that the
                        // minute's tooltip shows over empty space too.
                        rect x=(x) y=(TOP) width=(SLOT - 2) height=(plot) fill="transparent" {}
                    }
                }
                @for (i, label) in [(0usize, "60 min ago"), (30, "30 min ago"), (MINUTES - 1, "now")] {
                    text x=(LEFT + i as u32 * SLOT + SLOT / 2) y=(HEIGHT - 6)
                        text-anchor=(if i == 0 { "start" } else if i == MINUTES - 1 { "end" } else { "middle" })
                        font-size="11" fill="#667085" { (label) }
                }
            }
        }
    }
}

/// The bars of minute `index`, stacked from the bottom (successes first):
/// each outcome with its top and height, empty ones left out.
fn stack(
    minutes: &Minutes,
    index: usize,
    height_of: &dyn Fn(u32) -> u32,
) -> Vec<(Outcome, u32, u32)> {
    let mut y = HEIGHT - BOTTOM;
    let mut bars = Vec::new();
    for outcome in Outcome::ALL {
        let h = height_of(minutes.get(index, outcome)).min(y - TOP);
        if h > 0 {
            y -= h;
            bars.push((outcome, y, h));
        }
    }
    bars
}

/// A round number at least `n` for the top of the scale: 0 for nothing, then
/// 1, 2, 5, 10, 20, 50, ...
fn nice_ceiling(n: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    let mut step = 1u32;
    loop {
        for m in [1, 2, 5] {
            let v = step.saturating_mul(m);
            if v >= n || v == u32::MAX {
                return v;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// The hour before `now`.
pub(super) fn since(now: SystemTime) -> SystemTime {
    now.checked_sub(Duration::from_secs(MINUTES as u64 * 60))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TransportErrorKind;
    use bytes::Bytes;

    fn record(now: SystemTime, secs_ago: u64, result: AttemptResult) -> AttemptRecord {
        AttemptRecord::new(
            1,
            now - Duration::from_secs(secs_ago),
            Duration::ZERO,
            result,
        )
    }

    fn status(s: u16) -> AttemptResult {
        AttemptResult::Response {
            status: s,
            body: Bytes::new(),
        }
    }

    #[test]
    fn attempts_fall_in_their_minute_by_outcome() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let records = [
            record(now, 0, status(200)),
            record(now, 59, status(204)),
            record(now, 60, status(500)),
            record(
                now,
                61,
                AttemptResult::error(TransportErrorKind::Timeout, "timed out"),
            ),
            record(now, 3_599, status(410)),
            record(now, 3_600, status(200)), // an hour ago: out
            record(now + Duration::from_secs(5), 0, status(200)), // later than now: this minute
        ];
        let m = Minutes::count(now, &records);
        assert_eq!(m.get(MINUTES - 1, Outcome::Succeeded), 3);
        assert_eq!(m.get(MINUTES - 2, Outcome::Refused), 1);
        assert_eq!(m.get(MINUTES - 2, Outcome::NoResponse), 1);
        assert_eq!(m.get(0, Outcome::Refused), 1);
        let all: u64 = Outcome::ALL.iter().map(|o| m.sum(*o)).sum();
        assert_eq!(all, 6);
    }

    #[test]
    fn bars_are_stacked_to_scale() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut records: Vec<_> = (0..10).map(|_| record(now, 0, status(200))).collect();
        records.extend((0..5).map(|_| record(now, 0, status(503))));
        let svg = svg(&Minutes::count(now, &records)).into_string();
        // 15 attempts: the scale tops out at 20, 150 units of plot.
        assert!(svg.contains(r##"height="75" fill="#2e9e4f""##), "{svg}");
        assert!(svg.contains(r##"height="37" fill="#e08a00""##), "{svg}");
        assert!(svg.contains("10 succeeded (2xx), 5 failed (other status), 0 no response"));
        assert!(svg.contains("0 min ago: 10 succeeded, 5 failed, 0 no response"));
    }

    #[test]
    fn an_empty_hour_draws_no_bars() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let svg = svg(&Minutes::count(now, &[])).into_string();
        assert!(!svg.contains("class=\"bar"), "{svg}");
        assert!(svg.starts_with("<div class=\"chart\">"));
    }

    #[test]
    fn the_scale_is_round() {
        let got: Vec<u32> = [0, 1, 2, 3, 6, 11, 49, 51, 999].map(nice_ceiling).to_vec();
        assert_eq!(got, [0, 1, 2, 5, 10, 20, 50, 100, 1000]);
    }
}
