//! The results: a Markdown table (printed and written to a file) and a PNG
//! bar chart of the ferry/peer ratios.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::common::median;

/// A figure measured on ferry and on a peer in every round.
pub struct Compared {
    pub what: String,
    pub unit: &'static str,
    pub peer: &'static str,
    pub ferry: Vec<f64>,
    pub other: Vec<f64>,
}

impl Compared {
    pub fn new(what: &str, unit: &'static str, peer: &'static str) -> Compared {
        Compared {
            what: what.into(),
            unit,
            peer,
            ferry: Vec::new(),
            other: Vec::new(),
        }
    }

    /// ferry's median over the peer's; above 1 ferry is faster.
    pub fn ratio(&self) -> f64 {
        median(self.ferry.clone()) / median(self.other.clone())
    }
}

/// A figure of ferry's own, against a target.
pub struct Figure {
    pub what: String,
    pub figure: String,
    pub target: String,
    pub met: Option<bool>,
}

fn rounds_of(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

pub fn markdown(title: &str, rounds: usize, compared: &[Compared], figures: &[Figure]) -> String {
    let mut md = String::new();
    writeln!(md, "# {title}\n").unwrap();
    writeln!(
        md,
        "| measure ({rounds} rounds, interleaved, medians) | ferry | peer | ferry/peer |"
    )
    .unwrap();
    writeln!(md, "|---|---|---|---|").unwrap();
    for c in compared {
        writeln!(
            md,
            "| {}, {} | {:.0} | {:.0} ({}) | **{:.2}** |",
            c.what,
            c.unit,
            median(c.ferry.clone()),
            median(c.other.clone()),
            c.peer,
            c.ratio()
        )
        .unwrap();
    }
    writeln!(md, "\n| measure | figure | target | met |").unwrap();
    writeln!(md, "|---|---|---|---|").unwrap();
    for f in figures {
        let met = match f.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        writeln!(md, "| {} | {} | {} | {met} |", f.what, f.figure, f.target).unwrap();
    }
    writeln!(md, "\nEach round (ferry; peer):\n").unwrap();
    for c in compared {
        writeln!(
            md,
            "- {}: ferry {}; {} {}",
            c.what,
            rounds_of(&c.ferry),
            c.peer,
            rounds_of(&c.other)
        )
        .unwrap();
    }
    md
}

/// A font for the chart's text: DejaVu Sans (Debian's `fonts-dejavu-core`).
fn load_font() -> Result<(), String> {
    const PLACES: [&str; 2] = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
    ];
    let bytes = PLACES
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .ok_or("no DejaVuSans.ttf (apt-get install fonts-dejavu-core)")?;
    register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(bytes.into_boxed_slice()),
    )
    .map_err(|_| "DejaVuSans.ttf is not a font plotters can read".to_owned())
}

/// Horizontal bars, one per compared figure, with the parity line at 1.
pub fn chart(path: &Path, title: &str, compared: &[Compared]) -> Result<(), String> {
    load_font()?;
    let n = compared.len();
    let top = compared
        .iter()
        .map(Compared::ratio)
        .fold(1.2f64, f64::max)
        .ceil()
        .max(1.5);
    let root = BitMapBackend::new(path, (1100, 80 + 56 * n as u32)).into_drawing_area();
    let draw = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| draw(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(36)
        .build_cartesian_2d(0f64..top, 0f64..n as f64)
        .map_err(|e| draw(&e))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc("ferry / peer (higher is better for ferry)")
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| draw(&e))?;
    // The parity line over the bars, under the labels.
    let bars = compared.iter().enumerate().map(|(i, c)| {
        let y = (n - 1 - i) as f64;
        let colour = if c.ratio() >= 1.0 {
            RGBColor(46, 125, 50)
        } else {
            RGBColor(198, 40, 40)
        };
        Rectangle::new(
            [(0.0, y + 0.15), (c.ratio(), y + 0.85)],
            colour.mix(0.75).filled(),
        )
    });
    chart.draw_series(bars).map_err(|e| draw(&e))?;
    chart
        .draw_series(LineSeries::new(
            [(1.0, 0.0), (1.0, n as f64)],
            BLACK.stroke_width(2),
        ))
        .map_err(|e| draw(&e))?;
    for (i, c) in compared.iter().enumerate() {
        // The first figure at the top.
        let y = (n - 1 - i) as f64;
        let ratio = c.ratio();
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{} vs {}: {ratio:.2}", c.what, c.peer),
                (0.02, y + 0.62),
                ("sans-serif", 17).into_font().color(&BLACK),
            )))
            .map_err(|e| draw(&e))?;
    }
    root.present().map_err(|e| draw(&e))?;
    Ok(())
}
