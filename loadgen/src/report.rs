//! The run's report: counts, throughput and latency, a per-second timeline, as JSON and as a
//! static HTML page with SVG charts.

use super::{
    run::{ACCEPTED, BlockSeen, Class, HONEST, Item, Ledger, Outcome, REJECTED},
    workload::Workload,
};
use alloy::primitives::Address;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, fmt::Write as _, path::Path, sync::atomic::Ordering};

/// Everything a run measured. `report.json` is this, serialized.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The endpoints transactions went to.
    pub endpoints: Vec<String>,
    /// Their chain id.
    pub chain_id: u64,
    /// The workload.
    pub workload: String,
    /// Target rate ("max" or transactions per second).
    pub rate: String,
    /// Unix time the measured phase started.
    pub started_at: u64,
    /// Sender accounts.
    pub senders: usize,
    /// Contracts the run deployed ("LoadToken", "LoadNft").
    pub contracts: BTreeMap<String, Address>,
    /// Honest transactions.
    pub honest: Counts,
    /// Adversarial transactions by kind (empty unless `--adversarial`).
    pub adversarial: BTreeMap<String, Counts>,
    /// Rates over the run.
    pub throughput: Throughput,
    /// Submit-to-inclusion latency of honest transactions, in milliseconds.
    pub latency_ms: Latency,
    /// Per-second figures from the start of sending.
    pub timeline: Vec<Second>,
    /// The blocks the run spanned.
    pub blocks: Blocks,
    /// Per sender: nonce before the run and how many of its transactions were included (the
    /// chain's nonce afterwards is their sum).
    pub accounts: Vec<AccountReport>,
    /// Times the endpoints said "txpool is full" or "account limit exceeded" and a batch's
    /// transactions were sent again after a pause.
    pub pool_full_retries: u64,
}

/// Counts of one class of transactions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Signed ahead of the run.
    pub signed: u64,
    /// Sent to an endpoint.
    pub submitted: u64,
    /// Acknowledged with a hash.
    pub accepted: u64,
    /// Refused.
    pub rejected: u64,
    /// Seen in a block.
    pub included: u64,
    /// Accepted but not seen in a block when the run ended.
    pub not_included: u64,
    /// Refusals by message (up to its first ':'), with one full example each.
    pub rejected_by_error: BTreeMap<String, ErrorReport>,
}

/// One refusal message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorReport {
    /// How many.
    pub count: u64,
    /// One whole message.
    pub example: String,
}

/// Rates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Throughput {
    /// Seconds spent sending.
    pub send_secs: f64,
    /// Honest transactions submitted per second while sending.
    pub submitted_per_sec: f64,
    /// Honest transactions included per second, from the start of sending to the last
    /// inclusion: the sustained rate.
    pub included_per_sec: f64,
    /// Median of the per-second inclusion counts while sending.
    pub median_included_per_sec: f64,
    /// The best second.
    pub peak_included_per_sec: u64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Samples (included honest transactions).
    pub samples: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// One second of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Second {
    /// Seconds from the start of sending.
    pub t: u64,
    /// Honest transactions first sent in this second.
    pub submitted: u64,
    /// Of those, refused.
    pub rejected: u64,
    /// Honest transactions whose block arrived in this second.
    pub included: u64,
    /// Their latency median (ms).
    pub latency_p50_ms: f64,
    /// Their latency 99th percentile (ms).
    pub latency_p99_ms: f64,
}

/// The blocks of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Blocks {
    /// First block watched.
    pub first: u64,
    /// Last block watched.
    pub last: u64,
    /// Transactions in them, the run's and others'.
    pub transactions: u64,
    /// The run's transactions in them.
    pub ours: u64,
    /// Most transactions in one block.
    pub max_per_block: u64,
    /// Mean gas used per block.
    pub mean_gas_used: f64,
    /// Block gas limit (of the last block).
    pub gas_limit: u64,
}

/// One sender.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountReport {
    /// Address.
    pub address: Address,
    /// Its nonce before the run.
    pub first_nonce: u64,
    /// Its honest transactions included.
    pub included: u64,
}

/// What the report is built from besides the run's outcome.
pub(crate) struct Context<'a> {
    pub(crate) endpoints: Vec<String>,
    pub(crate) chain_id: u64,
    pub(crate) workload: Workload,
    pub(crate) rate: Option<f64>,
    pub(crate) started_at: u64,
    pub(crate) senders: &'a [(Address, u64)],
    pub(crate) contracts: BTreeMap<String, Address>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl Report {
    pub(crate) fn build(ctx: Context<'_>, items: &[Item], outcome: &Outcome) -> Self {
        let ledger: &Ledger = &outcome.ledger;
        let mut honest = Counts::default();
        let mut adversarial: BTreeMap<String, Counts> = BTreeMap::new();
        let mut latencies = Vec::new();
        let mut per_second: BTreeMap<u64, (Second, Vec<f64>)> = BTreeMap::new();
        let mut included_by_sender = vec![0u64; ctx.senders.len()];
        let mut last_included_us = 0;
        for (i, item) in items.iter().enumerate() {
            let sent = ledger.sent_at[i].load(Ordering::Relaxed);
            let included = ledger.included_at[i].load(Ordering::Relaxed);
            let state = ledger.outcome[i].load(Ordering::Relaxed);
            let counts = match item.class {
                Class::Honest { .. } => &mut honest,
                Class::Adversarial(kind) => adversarial.entry(kind.name().to_owned()).or_default(),
            };
            counts.signed += 1;
            if sent != 0 {
                counts.submitted += 1;
            }
            if state == ACCEPTED || included != 0 {
                counts.accepted += 1;
                if included == 0 {
                    counts.not_included += 1;
                }
            } else if state == REJECTED {
                counts.rejected += 1;
            }
            if included != 0 {
                counts.included += 1;
            }
            let Class::Honest { sender, .. } = item.class else { continue };
            if sent != 0 {
                let second = &mut per_second.entry((sent - 1) / 1_000_000).or_default().0;
                second.submitted += 1;
                if state == REJECTED {
                    second.rejected += 1;
                }
            }
            if included != 0 {
                included_by_sender[sender as usize] += 1;
                last_included_us = last_included_us.max(included);
                // A transaction can be seen included before its batch's answer arrives and
                // even (for a retried one) before its last send: never below zero.
                let ms = included.saturating_sub(sent) as f64 / 1e3;
                latencies.push(ms);
                let entry = per_second.entry((included - 1) / 1_000_000).or_default();
                entry.0.included += 1;
                entry.1.push(ms);
            }
        }
        for ((label, key), e) in ledger.errors.lock().iter() {
            let counts = if *label == HONEST {
                &mut honest
            } else {
                adversarial.entry((*label).to_owned()).or_default()
            };
            counts
                .rejected_by_error
                .insert(key.clone(), ErrorReport { count: e.count, example: e.example.clone() });
        }
        latencies.sort_by(f64::total_cmp);
        let latency = Latency {
            samples: latencies.len() as u64,
            p50: percentile(&latencies, 0.50),
            p90: percentile(&latencies, 0.90),
            p99: percentile(&latencies, 0.99),
            max: latencies.last().copied().unwrap_or_default(),
            mean: if latencies.is_empty() {
                0.0
            } else {
                latencies.iter().sum::<f64>() / latencies.len() as f64
            },
        };
        let last_second = per_second.keys().next_back().copied().unwrap_or_default();
        let timeline: Vec<Second> = (0..=last_second)
            .map(|t| {
                let (mut second, mut lat) = per_second.remove(&t).unwrap_or_default();
                lat.sort_by(f64::total_cmp);
                second.t = t;
                second.latency_p50_ms = percentile(&lat, 0.5);
                second.latency_p99_ms = percentile(&lat, 0.99);
                second
            })
            .collect();
        let send_secs = outcome.send_end_us as f64 / 1e6;
        let sending_seconds = (send_secs.floor() as usize).max(1).min(timeline.len());
        let mut during: Vec<u64> = timeline.iter().take(sending_seconds).map(|s| s.included).collect();
        during.sort_unstable();
        let throughput = Throughput {
            send_secs,
            submitted_per_sec: honest.submitted as f64 / send_secs.max(1e-3),
            included_per_sec: if last_included_us == 0 {
                0.0
            } else {
                honest.included as f64 / (last_included_us as f64 / 1e6)
            },
            median_included_per_sec: if during.is_empty() { 0.0 } else { during[during.len() / 2] as f64 },
            peak_included_per_sec: timeline.iter().map(|s| s.included).max().unwrap_or_default(),
        };
        let blocks = Blocks {
            first: outcome.blocks.first().map(|b| b.info.number.to()).unwrap_or_default(),
            last: outcome.blocks.last().map(|b| b.info.number.to()).unwrap_or_default(),
            transactions: outcome.blocks.iter().map(|b| b.info.transactions.len() as u64).sum(),
            ours: outcome.blocks.iter().map(|b: &BlockSeen| b.ours).sum(),
            max_per_block: outcome
                .blocks
                .iter()
                .map(|b| b.info.transactions.len() as u64)
                .max()
                .unwrap_or_default(),
            mean_gas_used: if outcome.blocks.is_empty() {
                0.0
            } else {
                outcome.blocks.iter().map(|b| b.info.gas_used.to::<u64>() as f64).sum::<f64>()
                    / outcome.blocks.len() as f64
            },
            gas_limit: outcome.blocks.last().map(|b| b.info.gas_limit.to()).unwrap_or_default(),
        };
        Self {
            endpoints: ctx.endpoints,
            chain_id: ctx.chain_id,
            workload: format!("{:?}", ctx.workload).to_lowercase(),
            rate: ctx.rate.map_or_else(|| "max".to_owned(), |r| format!("{r}")),
            started_at: ctx.started_at,
            senders: ctx.senders.len(),
            contracts: ctx.contracts,
            honest,
            adversarial,
            throughput,
            latency_ms: latency,
            timeline,
            blocks,
            accounts: ctx
                .senders
                .iter()
                .zip(included_by_sender)
                .map(|(&(address, first_nonce), included)| AccountReport { address, first_nonce, included })
                .collect(),
            pool_full_retries: ledger.retries.load(Ordering::Relaxed),
        }
    }

    /// The summary printed at the end of a run.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let h = &self.honest;
        let _ = writeln!(
            s,
            "workload {} at rate {} over {} endpoint(s), {} senders",
            self.workload,
            self.rate,
            self.endpoints.len(),
            self.senders
        );
        let _ = writeln!(
            s,
            "  submitted {} in {:.1} s ({:.0}/s): accepted {}, rejected {}, included {}, not included {}",
            h.submitted,
            self.throughput.send_secs,
            self.throughput.submitted_per_sec,
            h.accepted,
            h.rejected,
            h.included,
            h.not_included
        );
        for (message, e) in &h.rejected_by_error {
            let _ = writeln!(s, "    rejected {:>8} x {message} (e.g. {:?})", e.count, e.example);
        }
        let _ = writeln!(
            s,
            "  included {:.0} tx/s sustained (median second {:.0}, best second {}), {} blocks, up to {} tx per block",
            self.throughput.included_per_sec,
            self.throughput.median_included_per_sec,
            self.throughput.peak_included_per_sec,
            self.blocks.last.saturating_sub(self.blocks.first) + u64::from(self.blocks.last > 0),
            self.blocks.max_per_block
        );
        let l = &self.latency_ms;
        let _ = writeln!(
            s,
            "  submit-to-inclusion latency: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            l.p50, l.p90, l.p99, l.max
        );
        if self.pool_full_retries > 0 {
            let _ =
                writeln!(s, "  pool full: {} transactions sent again after a pause", self.pool_full_retries);
        }
        for (kind, c) in &self.adversarial {
            let _ = writeln!(
                s,
                "  adversarial {kind}: submitted {}, rejected {}, accepted {}, included {}",
                c.submitted, c.rejected, c.accepted, c.included
            );
            for (message, e) in &c.rejected_by_error {
                let _ = writeln!(s, "    rejected {:>8} x {message}", e.count);
            }
        }
        s
    }

    /// Writes `report.json` and `report.html` into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> eyre::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(self)? + "\n")?;
        std::fs::write(dir.join("report.html"), html(&[("run", self)], &self.summary()))?;
        Ok(())
    }
}

/// A static HTML page: each run's summary and two SVG charts (included and submitted tx/s,
/// latency p50/p99 per second). Hand-written SVG, a few dozen lines: a plotting crate would
/// bring font rasterizing for text the browser draws anyway.
pub fn html(runs: &[(&str, &Report)], text: &str) -> String {
    let mut page = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>flashlayer loadgen</title>\
         <style>body{font-family:sans-serif;margin:2em;color:#222}pre{background:#f6f6f6;padding:1em}\
         svg{border:1px solid #ddd;margin:.5em 0}</style></head><body><h1>flashlayer loadgen</h1>",
    );
    let _ = write!(page, "<pre>{}</pre>", escape(text));
    let colors = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
        "#7f7f7f",
    ];
    let mut tps = Vec::new();
    let mut lat = Vec::new();
    for (i, (name, report)) in runs.iter().enumerate() {
        let color = colors[i % colors.len()];
        let points = |f: &dyn Fn(&Second) -> f64| -> Vec<(f64, f64)> {
            report.timeline.iter().map(|s| (s.t as f64, f(s))).collect()
        };
        tps.push((format!("{name} included/s"), color, false, points(&|s| s.included as f64)));
        tps.push((format!("{name} submitted/s"), color, true, points(&|s| s.submitted as f64)));
        // Latency exists only for seconds in which something was included.
        let latency = |f: &dyn Fn(&Second) -> f64| -> Vec<(f64, f64)> {
            report.timeline.iter().filter(|s| s.included > 0).map(|s| (s.t as f64, f(s))).collect()
        };
        lat.push((format!("{name} p50 ms"), color, false, latency(&|s| s.latency_p50_ms)));
        lat.push((format!("{name} p99 ms"), color, true, latency(&|s| s.latency_p99_ms)));
    }
    page.push_str("<h2>Throughput (transactions per second)</h2>");
    page.push_str(&chart(&tps));
    page.push_str("<h2>Submit-to-inclusion latency (ms) of transactions included in each second</h2>");
    page.push_str(&chart(&lat));
    page.push_str("</body></html>\n");
    page
}

type Series<'a> = (String, &'a str, bool, Vec<(f64, f64)>);

fn chart(series: &[Series<'_>]) -> String {
    let (w, left, bottom, top, right) = (1100.0, 70.0, 40.0, 20.0, 320.0);
    // Tall enough for the legend.
    let h = f64::max(320.0, top + bottom + 14.0 * series.len() as f64);
    let max_x = series.iter().flat_map(|s| s.3.iter().map(|p| p.0)).fold(1.0, f64::max);
    let max_y = nice_ceiling(series.iter().flat_map(|s| s.3.iter().map(|p| p.1)).fold(1.0, f64::max));
    let px = |x: f64| left + x / max_x * (w - left - right);
    let py = |y: f64| h - bottom - y / max_y * (h - bottom - top);
    let mut svg =
        format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-size=\"11\">");
    // axes and grid
    for i in 0..=4 {
        let y = max_y * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#eee\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}</text>",
            w - right,
            left - 5.0,
            py(y) + 4.0,
            y,
            py = py(y)
        );
    }
    let step = nice_ceiling(max_x / 5.0);
    for x in (0..).map(|i| f64::from(i) * step).take_while(|x| *x <= max_x) {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{:.*}s</text>",
            px(x),
            h - bottom + 15.0,
            usize::from(step < 1.0),
            x
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{}\" stroke=\"#888\"/>\
         <line x1=\"{left}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#888\"/>",
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    );
    for (i, (name, color, dashed, points)) in series.iter().enumerate() {
        let path: Vec<String> = points.iter().map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y))).collect();
        let dash = if *dashed { " stroke-dasharray=\"4 3\"" } else { "" };
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"{dash} points=\"{}\"/>",
            path.join(" ")
        );
        let ly = top + 14.0 * i as f64;
        let _ = write!(
            svg,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            w - right + 10.0,
            w - right + 30.0,
            w - right + 35.0,
            ly + 4.0,
            escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The smallest of 1, 2, 2.5, 5 x 10^k at or above `v`, so that axis ticks are round numbers.
fn nice_ceiling(v: f64) -> f64 {
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[7.0], 0.9), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_ceiling(17_600.0), 20_000.0);
        assert_eq!(nice_ceiling(3_455.0), 5_000.0);
        assert_eq!(nice_ceiling(2_100.0), 2_500.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
    }

    #[test]
    fn chart_draws_every_series() {
        let series = vec![
            ("a".to_owned(), "#000", false, vec![(0.0, 1.0), (1.0, 3.0)]),
            ("b <x>".to_owned(), "#f00", true, vec![(0.0, 2.0)]),
        ];
        let svg = chart(&series);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("b &lt;x&gt;"));
    }
}
