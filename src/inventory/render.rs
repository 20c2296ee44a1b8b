//! Human-readable inventory reports: Markdown, and one self-contained HTML page for
//! compliance staff (summary by category and sensitivity, then a table per dataset).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{ColumnInventory, Inventory};
use crate::category::{Category, Sensitivity};
use crate::classify::Rules;
use crate::risk::report::RISK_STYLE;

fn label(rules: &Rules, category: Category) -> &str {
    rules.categories.iter().find(|r| r.id == category).map_or("", |r| r.label_zh.as_str())
}

/// (category → (columns, datasets)) over PI columns, most sensitive first.
fn summary(inv: &Inventory) -> Vec<(Category, Sensitivity, usize, usize)> {
    let mut by: BTreeMap<(Sensitivity, Category), (usize, Vec<&str>)> = BTreeMap::new();
    for (d, c) in inv.pi_columns() {
        let e = by.entry((c.sensitivity, c.category)).or_default();
        e.0 += 1;
        if !e.1.contains(&d.name.as_str()) {
            e.1.push(&d.name);
        }
    }
    by.into_iter().map(|((s, c), (n, ds))| (c, s, n, ds.len())).collect()
}

fn sensitivity_counts(inv: &Inventory) -> [usize; 3] {
    let mut counts = [0; 3];
    for d in &inv.datasets {
        for c in &d.columns {
            counts[c.sensitivity as usize] += 1;
        }
    }
    counts
}

fn evidence_text(c: &ColumnInventory) -> String {
    c.evidence.reason.clone()
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The inventory as Markdown.
pub fn render_markdown(inv: &Inventory, rules: &Rules) -> String {
    let mut out = String::new();
    let [sensitive, general, none] = sensitivity_counts(inv);
    let _ = writeln!(out, "# PI inventory 个人信息清单\n");
    let _ = writeln!(
        out,
        "Generated {} by piguard {} (classifier {}), up to {} sampled rows per dataset.\n",
        inv.generated_at, inv.piguard_version, inv.classifier_version, inv.sample_rows
    );
    let _ = writeln!(
        out,
        "{} datasets, {} columns: **{} sensitive PI**, {} general PI, {} not PI.\n",
        inv.datasets.len(),
        sensitive + general + none,
        sensitive,
        general,
        none
    );
    if !inv.failed.is_empty() {
        let _ = writeln!(out, "## Datasets that could not be read\n");
        for f in &inv.failed {
            let _ = writeln!(out, "- **{}** (`{}`): {}", f.name, f.path, md_cell(&f.error));
        }
        out.push('\n');
    }
    if !inv.skipped.is_empty() {
        let _ = writeln!(out, "## Files skipped\n");
        for s in &inv.skipped {
            let _ = writeln!(out, "- `{}`: {}", s.path, md_cell(&s.reason));
        }
        out.push('\n');
    }
    let undecided = needs_decision(inv);
    if !undecided.is_empty() {
        let _ = writeln!(out, "## Columns that need a decision\n");
        let _ =
            writeln!(out, "Identifier-like columns no rule claims: give each `hash`, `drop`, or `keep` with a reason in the pipeline.\n");
        for (d, c) in &undecided {
            let _ = writeln!(out, "- **{}.{}**: {}", d, md_cell(&c.name), md_cell(&c.evidence.reason));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Summary by category\n");
    let _ = writeln!(out, "| category | 类别 | sensitivity | columns | datasets |");
    let _ = writeln!(out, "|---|---|---|---:|---:|");
    for (c, s, n, ds) in summary(inv) {
        let _ = writeln!(out, "| {c} | {} | {s} | {n} | {ds} |", label(rules, c));
    }
    for d in &inv.datasets {
        let _ = writeln!(
            out,
            "\n## {}\n\n`{}`: {}, {} file(s), {} rows sampled{}\n",
            d.name,
            d.path,
            d.format,
            d.files,
            d.rows_sampled,
            if d.partition_columns.is_empty() { String::new() } else { format!(", partitioned by {}", d.partition_columns.join(", ")) }
        );
        let _ = writeln!(out, "| column | type | category | sensitivity | confidence | suggested action | evidence |");
        let _ = writeln!(out, "|---|---|---|---|---:|---|---|");
        for c in &d.columns {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.2} | {} | {} |",
                md_cell(&c.name),
                md_cell(&c.data_type),
                c.category,
                c.sensitivity,
                c.confidence,
                c.suggested_action,
                md_cell(&evidence_text(c))
            );
        }
    }
    if !inv.effect.is_empty() {
        let _ = writeln!(out, "\n## De-identification effect 去标识化效果评估 (GB/T 42460-2023)\n");
        let _ = writeln!(out, "| dataset | level | sharing | quasi-identifiers | k | R_a | R_b | R_c | suppressed | run |");
        let _ = writeln!(out, "|---|---:|---|---|---:|---:|---:|---:|---:|---|");
        for d in &inv.effect {
            let e = &d.evaluation;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.1}% | {:.3} | {:.3} | {} | {} |",
                md_cell(&d.name),
                e.level.0,
                e.sharing.id(),
                md_cell(&e.quasi_identifiers.join(", ")),
                e.figures.k,
                e.figures.r_a * 100.0,
                e.figures.r_b,
                e.figures.r_c,
                e.suppressed,
                d.run_id.as_deref().unwrap_or("")
            );
        }
    }
    out
}

/// The `unknown_identifier` columns, by dataset name.
fn needs_decision(inv: &Inventory) -> Vec<(&str, &ColumnInventory)> {
    inv.datasets
        .iter()
        .flat_map(|d| d.columns.iter().map(move |c| (d.name.as_str(), c)))
        .filter(|(_, c)| c.category == Category::UnknownIdentifier)
        .collect()
}

/// `s` escaped for HTML text and attributes.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The styles of piguard's HTML reports.
pub(crate) const STYLE: &str = "body{font-family:system-ui,-apple-system,'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',sans-serif;margin:2rem auto;max-width:78rem;padding:0 1rem;color:#1f2328}
h1{margin-bottom:.2rem}.meta{color:#57606a}table{border-collapse:collapse;width:100%;margin:.6rem 0 1.6rem}
th,td{border:1px solid #d0d7de;padding:.35rem .55rem;text-align:left;vertical-align:top;font-size:.92rem}
th{background:#f6f8fa}td.num{text-align:right}.cards{display:flex;gap:1rem;margin:1rem 0}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.7rem 1.1rem;min-width:9rem}.card b{font-size:1.6rem;display:block}
.sensitive{background:#ffebe9}.general{background:#fff8c5}.badge{border-radius:1rem;padding:0 .5rem;font-size:.8rem;white-space:nowrap}
.badge.sensitive{background:#cf222e;color:#fff}.badge.general{background:#bf8700;color:#fff}.badge.none{background:#eaeef2}
.failed{border-left:4px solid #cf222e;padding-left:1rem}code{font-size:.85rem}";

/// The inventory as one self-contained HTML page (no scripts, no external resources).
pub fn render_html(inv: &Inventory, rules: &Rules) -> String {
    let [sensitive, general, none] = sensitivity_counts(inv);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>PI inventory 个人信息清单</title><style>{STYLE}{RISK_STYLE}</style></head><body>\n\
         <h1>PI inventory 个人信息清单</h1>\n<p class=\"meta\">Generated {} by piguard {} \
         (classifier {}), up to {} sampled rows per dataset.</p>\n",
        esc(&inv.generated_at),
        esc(&inv.piguard_version),
        esc(&inv.classifier_version),
        inv.sample_rows
    );
    let _ = writeln!(
        out,
        "<div class=\"cards\"><div class=\"card\"><b>{}</b>datasets</div>\
         <div class=\"card sensitive\"><b>{sensitive}</b>sensitive PI columns 敏感</div>\
         <div class=\"card general\"><b>{general}</b>general PI columns 一般</div>\
         <div class=\"card\"><b>{none}</b>columns not PI</div></div>",
        inv.datasets.len()
    );
    if !inv.failed.is_empty() {
        let _ = write!(out, "<section class=\"failed\"><h2>Datasets that could not be read</h2><ul>");
        for f in &inv.failed {
            let _ = write!(out, "<li><b>{}</b> (<code>{}</code>): {}</li>", esc(&f.name), esc(&f.path), esc(&f.error));
        }
        let _ = writeln!(out, "</ul></section>");
    }
    if !inv.skipped.is_empty() {
        let _ = write!(out, "<section class=\"failed\"><h2>Files skipped</h2><ul>");
        for s in &inv.skipped {
            let _ = write!(out, "<li><code>{}</code>: {}</li>", esc(&s.path), esc(&s.reason));
        }
        let _ = writeln!(out, "</ul></section>");
    }
    let undecided = needs_decision(inv);
    if !undecided.is_empty() {
        let _ = write!(
            out,
            "<section class=\"failed\"><h2>Columns that need a decision</h2><p>Identifier-like columns no rule \
             claims: give each <code>hash</code>, <code>drop</code>, or <code>keep</code> with a reason in the pipeline.</p><ul>"
        );
        for (d, c) in &undecided {
            let _ = write!(out, "<li><b>{}.{}</b>: {}</li>", esc(d), esc(&c.name), esc(&c.evidence.reason));
        }
        let _ = writeln!(out, "</ul></section>");
    }
    let _ = writeln!(
        out,
        "<h2>Summary by category</h2><table><thead><tr><th>category</th><th>类别</th>\
         <th>sensitivity</th><th>columns</th><th>datasets</th></tr></thead><tbody>"
    );
    for (c, s, n, ds) in summary(inv) {
        let _ = writeln!(
            out,
            "<tr class=\"{s}\"><td>{c}</td><td>{}</td><td>{s}</td><td class=\"num\">{n}</td>\
             <td class=\"num\">{ds}</td></tr>",
            esc(label(rules, c))
        );
    }
    let _ = writeln!(out, "</tbody></table>");
    for d in &inv.datasets {
        let _ = write!(
            out,
            "<h2 id=\"ds-{0}\">{0}</h2><p class=\"meta\"><code>{1}</code>: {2}, {3} file(s), \
             {4} rows sampled{5}</p>\n<table><thead><tr><th>column</th><th>type</th><th>category</th>\
             <th>sensitivity</th><th>confidence</th><th>suggested action</th><th>evidence</th>\
             </tr></thead><tbody>\n",
            esc(&d.name),
            esc(&d.path),
            esc(&d.format),
            d.files,
            d.rows_sampled,
            if d.partition_columns.is_empty() {
                String::new()
            } else {
                format!(", partitioned by {}", esc(&d.partition_columns.join(", ")))
            }
        );
        for c in &d.columns {
            let _ = writeln!(
                out,
                "<tr class=\"{s}\"><td><code>{}</code></td><td>{}</td><td>{} {}</td>\
                 <td><span class=\"badge {s}\">{s}</span></td><td class=\"num\">{:.2}</td>\
                 <td>{}</td><td>{}</td></tr>",
                esc(&c.name),
                esc(&c.data_type),
                c.category,
                esc(label(rules, c.category)),
                c.confidence,
                c.suggested_action,
                esc(&evidence_text(c)),
                s = c.sensitivity,
            );
        }
        let _ = writeln!(out, "</tbody></table>");
    }
    if !inv.effect.is_empty() {
        let _ = writeln!(
            out,
            "<h2 id=\"effect\">De-identification effect 去标识化效果评估 (GB/T 42460-2023)</h2><p class=\"meta\">The evaluation \
             report of §6.6 for each published dataset, as the run that published it recorded it.</p>"
        );
        for d in &inv.effect {
            out.push_str(&crate::risk::report::section_html(d));
        }
    }
    out.push_str("</body></html>\n");
    out
}
