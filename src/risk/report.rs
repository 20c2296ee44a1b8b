//! The evaluation report of GB/T 42460 §6.6 (identifiers, method, results, conclusion) as
//! Markdown and HTML, the fixes a refused dataset is told to write, and the text of a refusal.
//! Names columns and figures, never a value.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::{Evaluation, Level, Role, SizeBin};
use crate::category::Category;
use crate::classify::TypeKind;
use crate::inventory::render::{STYLE, esc};

/// The evaluations of `piguard risk`, or of a run's datasets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RiskReport {
    pub piguard_version: String,
    pub generated_at: String,
    pub datasets: Vec<DatasetRisk>,
}

/// One dataset's evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRisk {
    pub name: String,
    pub path: String,
    /// The run that published it, when a manifest recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(flatten)]
    pub evaluation: Evaluation,
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// R_a at another sharing model's smallest class, from the histogram's bins.
fn r_a_at(e: &Evaluation, k: u64) -> f64 {
    let below = |upper: usize| e.figures.histogram[..upper].iter().map(|b| b.records).sum::<u64>();
    let records = e.figures.records;
    let n = match k {
        3 => below(2),
        5 => below(3),
        _ => below(5),
    };
    if records == 0 { 0.0 } else { n as f64 / records as f64 }
}

/// What to write in the dataset's `[[dataset]]` so that it may be published: one line each,
/// most effective first.
pub fn fixes(e: &Evaluation) -> Vec<String> {
    let mut out = Vec::new();
    for c in e.with_role(Role::DirectIdentifier) {
        out.push(format!("columns.{} = \"hash\"   # or \"drop\"", toml_key(&c.name)));
    }
    if e.level != Level(2) {
        return out;
    }
    let mut qis: Vec<_> = e.with_role(Role::QuasiIdentifier).collect();
    // The fix that helps most first: the lowest R_a without it, else the rarest alone.
    qis.sort_by(|a, b| match (a.r_a_without, b.r_a_without) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => b.rare_share.unwrap_or(0.0).total_cmp(&a.rare_share.unwrap_or(0.0)),
    });
    for c in qis.iter().take(3) {
        let effect = match c.r_a_without {
            Some(r) => format!("without it R_a is {}", percent(r)),
            None => format!("{} of records single out on it alone", percent(c.rare_share.unwrap_or(0.0))),
        };
        out.push(format!("columns.{} = {}   # {effect}", toml_key(&c.name), coarser(c, e.min_class())));
    }
    if e.sharing != super::Sharing::Enclave && r_a_at(e, super::Sharing::Enclave.min_class()) == 0.0 {
        out.push("sharing = \"enclave\"   # only if it is read inside a controlled environment alone".into());
    }
    if e.figures.r_a <= 0.05 {
        // Rounded up to the next 0.1 %, so that the figure just measured passes.
        let share = (e.figures.r_a * 1000.0).ceil() / 1000.0;
        out.push(format!(
            "max_suppressed = {share}   # null the quasi-identifiers of the {} of records in classes below {}",
            percent(e.figures.r_a),
            e.min_class()
        ));
    }
    out
}

/// A coarser action for quasi-identifier `c`, as TOML: the next generalization of its kind,
/// else a pseudonym or nothing.
fn coarser(c: &super::ColumnRole, k: u64) -> String {
    let step = c.step.as_deref().unwrap_or("keep");
    let kind = TypeKind::of(&c.data_type);
    let generalize = |param: &str| format!("{{ action = \"generalize\", {param} }}");
    match c.category {
        Category::Birthday if !step.contains("birth_decade") => generalize("to = \"birth_decade\""),
        Category::Address if !step.contains("province") => generalize("to = \"province\""),
        Category::PreciseLocation if !step.contains("grid:0.1)") => generalize("grid = 0.1"),
        Category::Gender | Category::Birthday | Category::Address | Category::PreciseLocation | Category::IpAddress => "\"drop\"".into(),
        _ if step == super::PARTITION_STEP => {
            "\"drop\"   (a partition column: partition the raw data more coarsely, or drop the column it is derived from)".to_string()
        }
        _ if kind == TypeKind::Temporal || step.contains("time:") => {
            match ["time:hour", "time:day", "time:month"].iter().position(|g| step.contains(g)) {
                None | Some(0) => generalize("time = \"day\""),
                Some(1) => generalize("time = \"month\""),
                Some(_) => "\"drop\"".into(),
            }
        }
        _ if kind == TypeKind::Number && !step.starts_with("generalize") => {
            format!("{}   (a width that leaves {k} or more a bucket; or \"drop\")", generalize("bucket = 100"))
        }
        _ if step.starts_with("mask") || step.starts_with("keep") => "\"hash\"   (a pseudonym; or \"drop\")".into(),
        _ => "\"drop\"".into(),
    }
}

/// A column name as a TOML key: bare when it can be, quoted otherwise.
fn toml_key(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

/// Why a dataset was refused, in a few lines: the level, the columns, the figures and the
/// fixes.
pub fn refusal(dataset: &str, e: &Evaluation) -> String {
    let mut out = format!("dataset {dataset}: GB/T 42460 level {} ({}), so it was not published", e.level.0, e.level.meaning());
    let direct: Vec<&str> = e.with_role(Role::DirectIdentifier).map(|c| c.name.as_str()).collect();
    if !direct.is_empty() {
        let _ = write!(out, "\n  direct identifiers: {}", direct.join(", "));
    }
    if e.level == Level(2) {
        let f = &e.figures;
        let qis: Vec<String> = e.with_role(Role::QuasiIdentifier).map(|c| format!("{} ({})", c.name, c.why)).collect();
        let _ = write!(out, "\n  quasi-identifiers: {}", qis.join("; "));
        let _ = write!(
            out,
            "\n  {} records in {} classes of {}: smallest class k = {}, R_a = {} of records in classes below {} (τ = 1/{}, sharing {}), R_b = {:.3}, R_c = {:.3}",
            f.records,
            f.classes,
            super::unit(e.subject.as_deref()),
            f.k,
            percent(f.r_a),
            e.min_class(),
            e.min_class(),
            e.sharing.id(),
            f.r_b,
            f.r_c
        );
        if e.max_suppressed > 0.0 {
            let _ = write!(
                out,
                "\n  local suppression would null {} of records, more than max_suppressed = {}",
                percent(f.r_a),
                e.max_suppressed
            );
        }
    }
    let fixes = fixes(e);
    if !fixes.is_empty() {
        let _ = write!(out, "\n  write in its [[dataset]] one or more of:");
        for f in fixes {
            let _ = write!(out, "\n    {f}");
        }
    }
    out
}

fn conclusion(e: &Evaluation) -> String {
    let verdict = if e.level.publishable() { "may be published" } else { "may not be published" };
    let mut text = format!(
        "Level {}: {}. Under sharing `{}` (τ = 1/{}) the dataset {verdict}.",
        e.level.0,
        e.level.meaning(),
        e.sharing.id(),
        e.min_class()
    );
    if e.suppressed > 0 {
        let _ = write!(text, " {} records had their quasi-identifiers suppressed (allowed: {}).", e.suppressed, percent(e.max_suppressed));
    }
    text
}

fn method(e: &Evaluation) -> String {
    format!(
        "Equivalence classes over the quasi-identifiers ({}), each counted in {}; θ = 1/f per class; R_a = share of records in classes with θ > τ, R_b = max θ, R_c = mean θ over records (GB/T 42460-2023 Annex D). Counts are {}.",
        if e.quasi_identifiers.is_empty() { "none".to_string() } else { e.quasi_identifiers.join(", ") },
        match &e.subject {
            Some(s) if e.subject_per_record => format!("distinct subjects (`{s}`; each record is one, so records were counted)"),
            Some(s) => format!("distinct subjects (`{s}`)"),
            None => "records".to_string(),
        },
        match (e.exact, e.classes_from_write) {
            (true, true) => "exact, counted as the records were written",
            (true, false) => "exact",
            (false, _) => "approximate",
        }
    )
}

/// The report as Markdown.
pub fn render_markdown(report: &RiskReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# De-identification effect evaluation 去标识化效果评估 (GB/T 42460-2023)\n");
    let _ = writeln!(out, "Generated {} by piguard {}.\n", report.generated_at, report.piguard_version);
    for d in &report.datasets {
        let e = &d.evaluation;
        let _ = writeln!(out, "## {} — level {}\n\n`{}`\n", d.name, e.level.0, d.path);
        let _ = writeln!(out, "### Identifiers\n\n| column | type | role | why | singled out alone |\n|---|---|---|---|---:|");
        for c in &e.columns {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                c.name.replace('|', "\\|"),
                c.data_type,
                c.role.label(),
                c.why.replace('|', "\\|"),
                c.rare_share.map(percent).unwrap_or_default()
            );
        }
        let f = &e.figures;
        let _ = writeln!(out, "\n### Method\n\n{}\n", method(e));
        let _ =
            writeln!(out, "### Results\n\n| records | classes | k | R_a | R_b | R_c | suppressed |\n|---:|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.3} | {:.3} | {} |\n",
            f.records,
            f.classes,
            f.k,
            percent(f.r_a),
            f.r_b,
            f.r_c,
            e.suppressed
        );
        let _ = writeln!(out, "| class size | classes | records |\n|---|---:|---:|");
        for (label, bin) in SizeBin::LABELS.iter().zip(&f.histogram) {
            let _ = writeln!(out, "| {label} | {} | {} |", bin.classes, bin.records);
        }
        let _ = writeln!(out, "\n### Conclusion\n\n{}\n", conclusion(e));
        for fix in fixes(e) {
            let _ = writeln!(out, "    {fix}");
        }
    }
    out
}

/// One dataset's §6.6 report as an HTML section, for this report's page and the inventory's.
pub fn section_html(d: &DatasetRisk) -> String {
    let e = &d.evaluation;
    let f = &e.figures;
    let mut out = String::new();
    let class = if e.level.publishable() { "ok" } else { "refused" };
    let _ = write!(
        out,
        "<section class=\"risk\"><h3 id=\"risk-{0}\">{0} <span class=\"level {class}\">level {1}</span></h3>\
         <p class=\"meta\"><code>{2}</code>{3}</p>",
        esc(&d.name),
        e.level.0,
        esc(&d.path),
        d.run_id.as_ref().map(|r| format!(", run {}", esc(r))).unwrap_or_default()
    );
    let _ = write!(
        out,
        "<div class=\"cards\"><div class=\"card\"><b>{}</b>k (smallest class)</div><div class=\"card\"><b>{}</b>R<sub>a</sub> records at risk</div>\
         <div class=\"card\"><b>{:.3}</b>R<sub>b</sub> highest risk</div><div class=\"card\"><b>{:.3}</b>R<sub>c</sub> mean risk</div>\
         <div class=\"card\"><b>{}</b>records suppressed</div></div>",
        f.k,
        percent(f.r_a),
        f.r_b,
        f.r_c,
        e.suppressed
    );
    let _ = write!(
        out,
        "<h4>Identifiers 标识符</h4><table><thead><tr><th>column</th><th>type</th><th>role</th><th>why</th><th>singled out alone</th></tr></thead><tbody>"
    );
    for c in &e.columns {
        let _ = write!(
            out,
            "<tr class=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            match c.role {
                Role::DirectIdentifier => "sensitive",
                Role::QuasiIdentifier => "general",
                _ => "",
            },
            esc(&c.name),
            esc(&c.data_type),
            c.role.label(),
            esc(&c.why),
            c.rare_share.map(percent).unwrap_or_default()
        );
    }
    let _ = write!(out, "</tbody></table><h4>Method 方法</h4><p>{}</p>", esc(&method(e)));
    let _ = write!(out, "<h4>Results 结果</h4><table class=\"hist\"><thead><tr><th>class size</th>");
    for label in SizeBin::LABELS {
        let _ = write!(out, "<th>{label}</th>");
    }
    let _ = write!(out, "</tr></thead><tbody><tr><td>classes</td>");
    for b in &f.histogram {
        let _ = write!(out, "<td class=\"num\">{}</td>", b.classes);
    }
    let _ = write!(out, "</tr><tr><td>records</td>");
    for b in &f.histogram {
        let _ = write!(out, "<td class=\"num\">{}</td>", b.records);
    }
    let _ = write!(out, "</tr></tbody></table><h4>Conclusion 结论</h4><p>{}</p>", esc(&conclusion(e)));
    let fixes = fixes(e);
    if !fixes.is_empty() {
        let _ = write!(out, "<pre>{}</pre>", esc(&fixes.join("\n")));
    }
    out.push_str("</section>\n");
    out
}

/// The styles of the report's sections, on top of the inventory's.
pub const RISK_STYLE: &str = ".level{border-radius:1rem;padding:0 .6rem;font-size:.85rem;color:#fff}.level.ok{background:#1a7f37}\
.level.refused{background:#cf222e}section.risk{border-top:1px solid #d0d7de;margin-top:1.2rem}pre{background:#f6f8fa;padding:.6rem}";

/// The report as one self-contained HTML page.
pub fn render_html(report: &RiskReport) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>De-identification effect 去标识化效果评估</title><style>{STYLE}{RISK_STYLE}</style></head><body>\n\
         <h1>De-identification effect 去标识化效果评估</h1><p class=\"meta\">GB/T 42460-2023 §6.6 evaluation report. Generated {} by piguard {}.</p>\n",
        esc(&report.generated_at),
        esc(&report.piguard_version)
    );
    for d in &report.datasets {
        out.push_str(&section_html(d));
    }
    out.push_str("</body></html>\n");
    out
}
