//! The storm's HTML report: one self-contained file (no scripts, no external assets) with the
//! summary, a histogram of boot times and the requests answered per second, drawn by plotters
//! as inline SVG.

use plotters::prelude::*;

use crate::storm::Report;

/// Buckets of the boot-time histogram.
const BUCKETS: u32 = 40;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn histogram(report: &Report) -> Result<String, String> {
    let max_ms = report
        .boot_times
        .last()
        .map_or(1.0, |d| d.as_secs_f64() * 1000.0)
        .max(1.0);
    let width = max_ms / f64::from(BUCKETS);
    let mut counts = vec![0u32; BUCKETS as usize];
    for t in &report.boot_times {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let b = ((t.as_secs_f64() * 1000.0 / width) as usize).min(BUCKETS as usize - 1);
        counts[b] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Boot time of the devices that booted", ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d((0u32..BUCKETS).into_segmented(), 0u32..top + top / 10 + 1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("boot time (ms)")
            .y_desc("devices")
            .x_label_formatter(&|v| match v {
                SegmentValue::Exact(b) | SegmentValue::CenterOf(b) => {
                    format!("{:.0}", f64::from(*b) * width)
                }
                SegmentValue::Last => String::new(),
            })
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(RGBColor(52, 101, 164).filled())
                    .margin(1)
                    .data((0u32..).zip(counts.iter().copied())),
            )
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn rate_plot(report: &Report) -> Result<String, String> {
    let rate = report.request_rate();
    let top = rate.iter().map(|(_, r)| *r).fold(1.0, f64::max);
    let end = rate.last().map_or(1.0, |(t, _)| *t).max(0.1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption("File requests answered per second", ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..end, 0f64..top * 1.1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("seconds since the storm started")
            .y_desc("requests / s")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                rate.iter().copied(),
                RGBColor(204, 0, 0).stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The report as one HTML page; `context` (what was run: date, version, server, models,
/// concurrency, rate) heads it as a table.
pub fn html(report: &Report, title: &str, context: &[(&str, String)]) -> Result<String, String> {
    let summary = escape(&report.summary());
    let rows: String = context
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>\n", escape(k), escape(v)))
        .collect();
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<style>body{{font-family:sans-serif;margin:2em;max-width:960px}}\
         pre{{background:#f4f4f4;padding:1em}}th{{text-align:left;padding-right:1em}}</style>\n\
         </head>\n<body>\n<h1>{title}</h1>\n<table>\n{rows}</table>\n\
         <pre>{summary}</pre>\n<figure>{hist}</figure>\n<figure>{rate}</figure>\n</body>\n</html>\n",
        title = escape(title),
        hist = histogram(report)?,
        rate = rate_plot(report)?,
    ))
}
