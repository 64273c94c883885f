//! Drawing a `Run` as SVG. Every element a test or a reader may look for carries a class:
//! `trip even|odd` (one per value, with `data-value`), `trip lost`, `mark <kind>`, `lane`,
//! `caption`, and in chart mode `series sent|received|latency-median|latency-max`.

use std::fmt::Write as _;

use super::{Charts, MarkKind, Run, Trip};
use crate::desafio::lang::{Lang, decimal};
use crate::desafio::record::{Parity, Role};

const WIDTH: f64 = 1100.0;
const LEFT: f64 = 190.0;
const RIGHT: f64 = 40.0;
const PLOT: f64 = WIDTH - LEFT - RIGHT;
const LANES: [f64; 3] = [100.0, 210.0, 320.0];
const AXIS: f64 = 400.0;
/// Below this span the timestamps (milliseconds) cannot separate events: the x axis shows the
/// order of the log's lines instead of time.
const TIME_AXIS_FROM_MS: f64 = 100.0;
/// Rows of labels under a lane (12 px apart): a label goes to the first row where it overlaps
/// no other; with every row taken it is left out (its mark still has a tooltip).
const LABEL_ROWS: usize = 4;
/// Estimated width of one character of a 10 px label (sans-serif averages about 0.55 em).
const LABEL_CHAR: f64 = 5.6;
const EVEN: &str = "#1f6fb4";
const ODD: &str = "#e8710a";
const LOST: &str = "#c62828";

fn esc(text: &str) -> String {
    ipc_sys::escape::xml(text)
}

/// Where on the x axis an event lies: by its time, or — when the whole run is too fast for
/// millisecond timestamps to separate its events — by its line's rank in the log, which is the
/// order the events really happened in (lines are written under the lock, in order).
struct Axis {
    by_time: bool,
    span: f64,
    lines: usize,
}

impl Axis {
    fn new(run: &Run) -> Axis {
        Axis {
            by_time: run.span_ms >= TIME_AXIS_FROM_MS || run.charts.is_some(),
            span: run.span_ms.max(1e-9),
            lines: run.exec_lines.max(2),
        }
    }

    /// x of the event at `t` ms, written on log line `line`.
    fn x(&self, t: f64, line: usize) -> f64 {
        if self.by_time {
            LEFT + t / self.span * PLOT
        } else {
            LEFT + (line.saturating_sub(1) as f64 / (self.lines - 1) as f64) * PLOT
        }
    }
}

/// Labels already placed under one lane, by row: (left, right) extents.
#[derive(Default)]
struct Rows {
    taken: [Vec<(f64, f64)>; LABEL_ROWS],
}

impl Rows {
    /// The first row where a label spanning `left..right` overlaps no other, taken; `None` when
    /// every row is.
    fn place(&mut self, left: f64, right: f64) -> Option<usize> {
        let row = self
            .taken
            .iter()
            .position(|row| row.iter().all(|&(a, b)| right + 3.0 < a || left > b + 3.0))?;
        self.taken[row].push((left, right));
        Some(row)
    }
}

/// The whole picture.
pub fn draw(run: &Run) -> String {
    let height = if run.charts.is_some() { 920.0 } else { 520.0 };
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">
<title>{doc_title}</title>
<defs>
<marker id="head-even" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{EVEN}"/></marker>
<marker id="head-odd" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{ODD}"/></marker>
</defs>
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="34" font-size="18" font-weight="bold">{title}</text>
"##,
        title = run.lang.pick(
            "Desafio 01 — producer and consumer over a pipe",
            "Desafio 01 — produtor e consumidor ligados por um pipe"
        ),
        doc_title = run.lang.pick("Desafio 01 run", "Execução do Desafio 01"),
    );
    if let Some(started) = &run.started {
        let _ = writeln!(
            s,
            r##"<text x="20" y="56" fill="#444">{}</text>"##,
            esc(started)
        );
    }
    let axis = Axis::new(run);
    for role in [Role::Main, Role::Producer, Role::Consumer] {
        lane(&mut s, run, role);
    }
    if run.charts.is_none() {
        trips(&mut s, &axis, &run.trips, run.lang);
    }
    marks(&mut s, run, &axis);
    x_axis(&mut s, run, &axis);
    if let Some(charts) = &run.charts {
        draw_charts(&mut s, charts, run.span_ms, run.lang);
    }
    caption(&mut s, run, height);
    s.push_str("</svg>\n");
    s
}

fn lane(s: &mut String, run: &Run, role: Role) {
    let y = LANES[Run::lane(role)];
    let pid = run.pids[Run::lane(role)].map_or("?".to_string(), |p| p.to_string());
    let _ = writeln!(
        s,
        r##"<g class="lane {name}"><line x1="{LEFT}" y1="{y}" x2="{end}" y2="{y}" stroke="#999" stroke-width="2"/><text x="20" y="{ty}" font-size="14" font-weight="bold">{label}</text><text x="20" y="{py}" fill="#555">pid {pid}</text></g>"##,
        name = role.name(),
        label = role.in_lang(run.lang),
        end = WIDTH - RIGHT,
        ty = y - 2.0,
        py = y + 14.0,
    );
}

fn trips(s: &mut String, axis: &Axis, trips: &[Trip], lang: Lang) {
    let (top, bottom) = (LANES[1] + 6.0, LANES[2] - 6.0);
    let label = trips.len() <= 60;
    for trip in trips {
        let x1 = axis.x(trip.sent_ms, trip.sent_line);
        let (class, colour) = match trip.parity {
            Parity::Even => ("even", EVEN),
            Parity::Odd => ("odd", ODD),
        };
        match trip.received_ms {
            None if trip.unsent => {
                let _ = writeln!(
                    s,
                    r##"<g class="trip unsent" data-value="{v}"><line x1="{x1:.1}" y1="{top}" x2="{x1:.1}" y2="{:.1}" stroke="#999" stroke-width="1.6" stroke-dasharray="2 3"/><title>{v}: {why}</title></g>"##,
                    top + 20.0,
                    v = trip.value,
                    why = lang.pick(
                        "logged as sent, but the write failed with EPIPE: never entered the pipe",
                        "registrado como enviado, mas a escrita falhou com EPIPE: nunca entrou no pipe"
                    )
                );
            }
            Some(r) => {
                let x2 = axis.x(r, trip.received_line.unwrap_or(trip.sent_line));
                let _ = writeln!(
                    s,
                    r#"<line class="trip {class}" data-value="{v}" data-index="{i}" x1="{x1:.1}" y1="{top}" x2="{x2:.1}" y2="{bottom}" stroke="{colour}" stroke-width="1.6" marker-end="url(#head-{class})"><title>{v} ({label}): #{i}</title></line>"#,
                    v = trip.value,
                    i = trip.index,
                    label = trip.parity.in_lang(lang)
                );
            }
            None => {
                let mid = (top + bottom) / 2.0;
                let _ = writeln!(
                    s,
                    r#"<g class="trip lost" data-value="{v}"><line x1="{x1:.1}" y1="{top}" x2="{x1:.1}" y2="{mid}" stroke="{LOST}" stroke-width="1.6" stroke-dasharray="4 3"/><path d="M{a:.1},{b:.1} l10,10 m0,-10 l-10,10" stroke="{LOST}" stroke-width="2"/><title>{v}: {why}</title></g>"#,
                    v = trip.value,
                    why = lang.pick("sent, never received", "enviado, nunca recebido"),
                    a = x1 - 5.0,
                    b = mid - 5.0
                );
            }
        }
        if label {
            let _ = writeln!(
                s,
                r##"<text x="{x:.1}" y="{y}" font-size="10" fill="#333" text-anchor="start" transform="rotate(-50 {x:.1} {y})">{v}</text>"##,
                x = x1,
                y = LANES[1] - 8.0,
                v = trip.value
            );
        }
    }
}

fn marks(s: &mut String, run: &Run, axis: &Axis) {
    let mut rows: [Rows; 3] = Default::default();
    for mark in &run.marks {
        let lane = Run::lane(mark.role);
        let y = LANES[lane];
        let x = axis.x(mark.at_ms, mark.line);
        let (class, shape) = match mark.kind {
            MarkKind::Start => (
                "start",
                format!(r##"<circle cx="{x:.1}" cy="{y}" r="6" fill="#2e7d32"/>"##),
            ),
            MarkKind::Spawn => (
                "spawn",
                format!(r##"<circle cx="{x:.1}" cy="{y}" r="4" fill="#777"/>"##),
            ),
            MarkKind::Exit => (
                "exit",
                format!(
                    r##"<rect x="{:.1}" y="{}" width="10" height="10" fill="#222"/>"##,
                    x - 5.0,
                    y - 5.0
                ),
            ),
            MarkKind::End => (
                "end",
                format!(
                    r##"<rect x="{:.1}" y="{}" width="3" height="16" fill="#6a1b9a"/>"##,
                    x - 1.5,
                    y - 8.0
                ),
            ),
            MarkKind::Fault => (
                "fault",
                format!(
                    r##"<path d="M{x:.1},{} l8,14 l-16,0 z" fill="{LOST}"/>"##,
                    y - 9.0
                ),
            ),
            MarkKind::Error => (
                "error",
                format!(
                    r##"<path d="M{:.1},{:.1} l12,12 m0,-12 l-12,12" stroke="{LOST}" stroke-width="3"/>"##,
                    x - 6.0,
                    y - 6.0
                ),
            ),
            MarkKind::Interrupt => (
                "interrupt",
                format!(
                    r##"<path d="M{x:.1},{} l7,8 l-7,8 l-7,-8 z" fill="#f9a825"/>"##,
                    y - 8.0
                ),
            ),
        };
        let width = mark.text.chars().count() as f64 * LABEL_CHAR;
        let (anchor, tx, left) = if x > WIDTH - RIGHT - width / 2.0 {
            ("end", x + 8.0, x + 8.0 - width)
        } else if x < LEFT + width / 2.0 {
            ("start", x - 8.0, x - 8.0)
        } else {
            ("middle", x, x - width / 2.0)
        };
        let colour = match mark.kind {
            MarkKind::Fault | MarkKind::Error => LOST,
            _ => "#333",
        };
        // The label goes to the first free row under the lane; with none free it is left
        // out, and the mark keeps its words as a tooltip.
        let label = match rows[lane].place(left, left + width) {
            Some(row) => format!(
                r#"<text x="{tx:.1}" y="{}" font-size="10" fill="{colour}" text-anchor="{anchor}">{}</text>"#,
                y + 20.0 + 12.0 * row as f64,
                esc(&mark.text)
            ),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            r#"<g class="mark {class}" data-role="{role}" data-x="{x:.1}"><title>{text}</title>{shape}{label}</g>"#,
            role = mark.role.name(),
            text = esc(&mark.text)
        );
    }
}

fn x_axis(s: &mut String, run: &Run, axis: &Axis) {
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{AXIS}" x2="{end}" y2="{AXIS}" stroke="#333"/>"##,
        end = WIDTH - RIGHT
    );
    if axis.by_time {
        // As many decimals as the span needs for six distinct ticks.
        let decimals = match run.span_ms {
            s if s >= 50.0 => 0,
            s if s >= 5.0 => 1,
            s if s >= 0.5 => 2,
            _ => 3,
        };
        for i in 0..=5 {
            let t = run.span_ms * i as f64 / 5.0;
            let x = LEFT + PLOT * i as f64 / 5.0;
            let label = if run.span_ms >= 10_000.0 {
                decimal(t / 1000.0, 1, run.lang) + " s"
            } else {
                decimal(t, decimals, run.lang) + " ms"
            };
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{AXIS}" x2="{x:.1}" y2="{}" stroke="#333"/><text class="tick" x="{x:.1}" y="{}" text-anchor="middle" fill="#333">{label}</text>"##,
                AXIS + 6.0,
                AXIS + 20.0
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="{LEFT}" y="{}" fill="#555">{}</text>"##,
            AXIS + 38.0,
            run.lang
                .pick("time since main started", "tempo desde o início do main")
        );
    } else {
        let _ = writeln!(
            s,
            r##"<text x="{LEFT}" y="{}" fill="#555">{}</text>"##,
            AXIS + 22.0,
            run.lang.pick(
                format!("order of events (the whole run took {:.0} ms: too fast for its millisecond timestamps to separate them)", run.span_ms),
                format!("ordem dos eventos (a execução inteira levou {:.0} ms: rápido demais para que os horários em milissegundos os separem)", run.span_ms),
            )
        );
    }
}

fn polyline(s: &mut String, class: &str, colour: &str, points: &[(f64, f64)], dash: bool) {
    let pts: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    let _ = writeln!(
        s,
        r#"<polyline class="series {class}" points="{}" fill="none" stroke="{colour}" stroke-width="2"{}/>"#,
        pts.join(" "),
        if dash {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        }
    );
}

/// A chart's legend, above its plot (`top`): its two lines, the second dashed and
/// `second_at` to the right, each a short stroke of its colour, then its name.
fn keys(s: &mut String, top: f64, second_at: f64, [first, second]: [(&str, &str); 2]) {
    let y = top - 8.0;
    let dashed = r#" stroke-dasharray="5 3""#;
    for (x, (colour, name), dash) in [(LEFT, first, ""), (LEFT + second_at, second, dashed)] {
        let _ = write!(
            s,
            r#"<g class="key"><line x1="{x:.1}" y1="{y}" x2="{:.1}" y2="{y}" stroke="{colour}" stroke-width="2"{dash}/><text x="{:.1}" y="{}">{}</text></g>"#,
            x + 24.0,
            x + 30.0,
            y + 4.0,
            esc(name)
        );
    }
}

fn draw_charts(s: &mut String, c: &Charts, span: f64, lang: Lang) {
    let n = c.sent.len().max(1);
    let x = |i: usize| LEFT + PLOT * (i as f64 + 0.5) / n as f64;
    // Throughput, values per second.
    let (top, h) = (470.0, 160.0);
    let per_s = |k: u64| k as f64 / (c.bucket_ms / 1000.0);
    let max = c
        .sent
        .iter()
        .chain(&c.received)
        .map(|&k| per_s(k))
        .fold(1.0, f64::max);
    let y = |v: f64| top + h - v / max * h;
    let _ = writeln!(
        s,
        r##"<text x="20" y="{}" font-size="14" font-weight="bold">{}</text><text x="20" y="{}" fill="#555">{} {}</text><line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#999"/>"##,
        top + 20.0,
        lang.pick("throughput", "vazão"),
        top + 36.0,
        lang.pick("values/s, peak", "valores/s, pico"),
        decimal(max, 0, lang),
        top + h,
        WIDTH - RIGHT,
        top + h
    );
    // Each chart names its own lines, above its plot.
    let names = [
        lang.pick("sent", "enviados"),
        lang.pick("received", "recebidos"),
    ];
    keys(s, top, 130.0, [(EVEN, names[0]), ("#2e7d32", names[1])]);
    let rates = |counts: &[u64]| -> Vec<(f64, f64)> {
        let points = counts.iter().enumerate();
        points.map(|(i, &k)| (x(i), y(per_s(k)))).collect()
    };
    polyline(s, "sent", EVEN, &rates(&c.sent), false);
    polyline(s, "received", "#2e7d32", &rates(&c.received), true);
    // Latency, sent → received.
    let (top, h) = (690.0, 150.0);
    let max = c
        .latency
        .iter()
        .flatten()
        .map(|l| l.1)
        .fold(0.001, f64::max);
    let y = |v: f64| top + h - v / max * h;
    let _ = writeln!(
        s,
        r##"<text x="20" y="{}" font-size="14" font-weight="bold">{}</text><text x="20" y="{}" fill="#555">{}</text><text x="20" y="{}" fill="#555">{} {} ms</text><line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#999"/>"##,
        top + 20.0,
        lang.pick("latency", "latência"),
        top + 36.0,
        lang.pick("sent → received, ms", "enviado → recebido, ms"),
        top + 52.0,
        lang.pick("max", "máx."),
        decimal(max, 1, lang),
        top + h,
        WIDTH - RIGHT,
        top + h
    );
    let names = [
        lang.pick("median of a bucket", "mediana do intervalo"),
        lang.pick("slowest of a bucket", "a mais lenta do intervalo"),
    ];
    keys(s, top, 190.0, [("#6a1b9a", names[0]), (LOST, names[1])]);
    let latencies = |pick: fn((f64, f64)) -> f64| -> Vec<(f64, f64)> {
        let points = c.latency.iter().enumerate();
        points
            .filter_map(|(i, l)| l.map(|l| (x(i), y(pick(l)))))
            .collect()
    };
    polyline(s, "latency-median", "#6a1b9a", &latencies(|l| l.0), false);
    polyline(s, "latency-max", LOST, &latencies(|l| l.1), true);
    let (width, total) = (decimal(c.bucket_ms, 1, lang), decimal(span, 0, lang));
    let _ = writeln!(
        s,
        r##"<text class="buckets" x="{LEFT}" y="{}" fill="#555">{}</text>"##,
        top + h + 20.0,
        lang.pick(
            format!("{n} time buckets of {width} ms over {total} ms"),
            format!("{n} intervalos de {width} ms em {total} ms"),
        )
    );
}

fn caption(s: &mut String, run: &Run, height: f64) {
    let lang = run.lang;
    let y = height - 46.0;
    // The charts name their own lines; the arrows' colours are named here.
    let legend = if run.charts.is_some() {
        String::new()
    } else {
        format!(
            r##"<line x1="20" y1="{y}" x2="44" y2="{y}" stroke="{EVEN}" stroke-width="2"/><text x="50" y="{t}">{even}</text><line x1="100" y1="{y}" x2="124" y2="{y}" stroke="{ODD}" stroke-width="2"/><text x="130" y="{t}">{odd}</text><line x1="185" y1="{y}" x2="209" y2="{y}" stroke="{LOST}" stroke-width="2" stroke-dasharray="4 3"/><text x="215" y="{t}">{lost}</text><line x1="290" y1="{y}" x2="314" y2="{y}" stroke="#999" stroke-width="2" stroke-dasharray="2 3"/><text x="320" y="{t}">{unsent}</text>"##,
            t = y + 4.0,
            even = lang.words().even,
            odd = lang.words().odd,
            lost = lang.pick("lost", "perdido"),
            unsent = lang.pick(
                "never entered the pipe (EPIPE)",
                "nunca entrou no pipe (EPIPE)"
            ),
        )
    };
    let summary = run.summary.clone().unwrap_or_else(|| {
        lang.pick(
            "no summary line: main did not finish",
            "sem linha de resumo: o main não terminou",
        )
        .into()
    });
    let (summary, lines) = (esc(&summary), run.exec_lines);
    let _ = writeln!(
        s,
        r##"<g class="legend">{legend}</g><text class="caption" x="20" y="{}" font-size="13">{}</text>"##,
        height - 18.0,
        lang.pick(
            format!("main's summary: {summary} ({lines} lines in execution_log.txt)"),
            format!("resumo do main: {summary} ({lines} linhas em execution_log.txt)"),
        )
    );
}

/// An HTML page embedding the picture.
pub fn page(run: &Run, svg: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}: {}</title>\n</head>\n<body style=\"margin: 1em\">\n{svg}</body>\n</html>\n",
        run.lang.pick("en", "pt-BR"),
        run.lang.pick("Desafio 01 run", "Execução do Desafio 01"),
        esc(run.started.as_deref().unwrap_or("")),
    )
}
