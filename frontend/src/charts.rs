//! Small hand-drawn SVG charts for the dashboard (no chart library: the
//! whole console must stay under 400 KB of gzipped wasm).

use leptos::prelude::*;

const W: f64 = 300.0;
const H: f64 = 100.0;
/// Fewest points the width stands for, so a fresh chart does not draw a
/// handful of points squeezed against the right edge of a two-minute axis.
const MIN_SLOTS: usize = 30;

/// How many points the width stands for.
fn slots(n: usize, cap: usize) -> usize {
    n.clamp(MIN_SLOTS.min(cap), cap.max(2))
}

pub fn logo() -> impl IntoView {
    view! {
        <svg viewBox="0 0 16 16" width="18" height="18" aria-hidden="true">
            <path d="M1 9h3l2-5 2 8 2-3h5" stroke="white" fill="none" stroke-width="1.7" stroke-linejoin="round"/>
        </svg>
    }
}

/// One series of a chart.
#[derive(Clone, PartialEq)]
pub struct Series {
    pub label: &'static str,
    pub color: &'static str,
    pub points: Vec<f64>,
}

/// "Nice" upper bound for the y axis.
fn ceiling(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if max <= step * mag {
            return step * mag;
        }
    }
    10.0 * mag
}

fn path(points: &[f64], cap: usize, top: f64) -> String {
    let n = points.len();
    let dx = W / (slots(n, cap) - 1) as f64;
    let x0 = W - dx * (n.saturating_sub(1)) as f64;
    let mut d = String::with_capacity(n * 12);
    for (i, v) in points.iter().enumerate() {
        let x = x0 + dx * i as f64;
        let y = H - (v / top).clamp(0.0, 1.0) * (H - 4.0) - 2.0;
        d.push_str(if i == 0 { "M" } else { "L" });
        d.push_str(&format!("{x:.1},{y:.1}"));
    }
    d
}

/// A live line chart: the newest point is at the right edge; `cap` points fill the width.
#[component]
pub fn LineChart(
    #[prop(into)] title: Signal<&'static str>,
    #[prop(into)] series: Signal<Vec<Series>>,
    /// Formats the current value and the y-axis maximum.
    fmt: fn(f64) -> String,
    cap: usize,
    #[prop(optional)] id: &'static str,
) -> impl IntoView {
    let top = Memo::new(move |_| {
        ceiling(series.with(|s| s.iter().flat_map(|s| s.points.iter().copied()).fold(0.0, f64::max)))
    });
    let now = move || series.with(|s| s.first().and_then(|s| s.points.last().copied()).map(fmt).unwrap_or("—".into()));
    view! {
        <div class="chart" id=id>
            <div class="head">
                <span class="title">{move || title.get()}</span>
                <span class="now">{now}</span>
            </div>
            <svg viewBox="0 0 300 100" preserveAspectRatio="none" role="img">
                <line x1="0" y1="2" x2="300" y2="2" stroke="#eef1f5" stroke-dasharray="3 3"/>
                <line x1="0" y1="51" x2="300" y2="51" stroke="#eef1f5" stroke-dasharray="3 3"/>
                <line x1="0" y1="99" x2="300" y2="99" stroke="#e3e7ee"/>
                {move || {
                    let t = top.get();
                    series
                        .get()
                        .into_iter()
                        .map(|s| {
                            let d = path(&s.points, cap, t);
                            let area = if s.points.len() > 1 && !d.is_empty() {
                                let n = s.points.len();
                                let first_x = W - (W / (slots(n, cap) - 1) as f64) * (n - 1) as f64;
                                format!("{d}L{W:.1},{H:.1}L{first_x:.1},{H:.1}Z")
                            } else {
                                String::new()
                            };
                            view! {
                                <path d=area fill=s.color fill-opacity="0.08" stroke="none"/>
                                <path d=d fill="none" stroke=s.color stroke-width="1.8" vector-effect="non-scaling-stroke"/>
                            }
                        })
                        .collect_view()
                }}
            </svg>
            <div class="legend">
                <span>"max "{move || fmt(top.get())}</span>
                {move || {
                    series
                        .get()
                        .into_iter()
                        .filter(|_| series.with(|s| s.len() > 1))
                        .map(|s| view! { <span><i class="dot" style:background=s.color></i>{s.label}</span> })
                        .collect_view()
                }}
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(ceiling(0.0), 1.0);
        assert_eq!(ceiling(7.0), 10.0);
        assert_eq!(ceiling(120.0), 200.0);
        assert_eq!(ceiling(0.3), 0.5);
    }
}
