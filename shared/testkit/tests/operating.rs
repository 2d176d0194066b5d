//! Operating Stockbridge, checked by reading files only (no services): the CloudWatch dashboard
//! in `template.yaml` names only metrics the code emits, with only the dimensions the EMF code
//! writes (`shared/core/src/telemetry.rs`), and every alarm's description ends with the path of
//! a runbook that exists, is indexed in `docs/runbooks/README.md` and speaks of the alarm's
//! metric.
//!
//! The template is read as text: resources are the two-space-indented keys under `Resources:`,
//! properties the six-space-indented keys of a resource (inline, folded `>`/`>-` or literal `|`
//! scalars). The dashboard body is the JSON of the `DashboardBody: !Sub |` block, with every
//! `${...}` replaced by a placeholder. A metric counts as emitted when a Rust source under
//! `shared/*/src` (test modules aside) calls `count("Name"` or `put("Name"` (the name may be on
//! the next line), passes a constant `const NAME: &str = "Name";` of the sources that way
//! (`put(\n NAME,`), or chooses it in a match arm `=> ("Name", ...)` of a file that emits
//! `count(name` / `put(name`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

const NAMESPACE: &str = "Stockbridge";
const RUNBOOK_PREFIX: &str = "Runbook: ";
const RUNBOOKS: &str = "docs/runbooks";
/// CloudWatch's limit on an alarm's description.
const ALARM_DESCRIPTION_LIMIT: usize = 1024;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

// ------------------------------------------------------------------ template.yaml as text

/// One resource of the template: its logical id, its `Type` and its property lines.
struct Resource {
    id: String,
    kind: String,
    lines: Vec<String>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The resources under `Resources:`, in order.
fn resources(template: &str) -> Vec<Resource> {
    let mut out: Vec<Resource> = Vec::new();
    let mut inside = false;
    for line in template.lines() {
        if indent(line) == 0 && !line.trim().is_empty() && !line.starts_with('#') {
            inside = line.trim_end() == "Resources:";
            continue;
        }
        if !inside {
            continue;
        }
        let trimmed = line.trim();
        if indent(line) == 2 && trimmed.ends_with(':') && !trimmed.starts_with('#') {
            out.push(Resource {
                id: trimmed.trim_end_matches(':').to_string(),
                kind: String::new(),
                lines: Vec::new(),
            });
        } else if let Some(resource) = out.last_mut() {
            if indent(line) == 4 {
                if let Some(kind) = trimmed.strip_prefix("Type:") {
                    resource.kind = kind.trim().to_string();
                }
            }
            resource.lines.push(line.to_string());
        }
    }
    out
}

/// How a property's value is written after its key.
enum Style {
    Inline(String),
    Folded,
    Literal,
}

/// The value of the property `key` (six spaces in), or `None` when the resource has none.
fn property(resource: &Resource, key: &str) -> Option<String> {
    let prefix = format!("{key}:");
    let at = resource
        .lines
        .iter()
        .position(|l| indent(l) == 6 && l.trim_start().starts_with(&prefix))?;
    let rest = resource.lines[at].trim_start()[prefix.len()..].trim();
    let rest = rest.strip_prefix("!Sub").map_or(rest, str::trim);
    let style = match rest {
        ">" | ">-" => Style::Folded,
        "|" | "|-" => Style::Literal,
        inline => Style::Inline(inline.trim_matches('"').trim_matches('\'').to_string()),
    };
    let block: Vec<&str> = resource.lines[at + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > 6)
        .map(String::as_str)
        .collect();
    Some(match style {
        Style::Inline(value) => value,
        Style::Folded => block
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        Style::Literal => {
            let strip = block
                .iter()
                .filter(|l| !l.trim().is_empty())
                .map(|l| indent(l))
                .min()
                .unwrap_or(0);
            block
                .iter()
                .map(|l| l.get(strip..).unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n")
        }
    })
}

/// `${Name}` and `${Res.Attr}` become placeholders (as CloudFormation would put values there);
/// `${!Literal}` is CloudFormation's escape for a literal `${Literal}`.
fn substitute(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            panic!("unterminated ${{ in the dashboard body: {}", &rest[start..]);
        };
        let name = &after[..end];
        match name.strip_prefix('!') {
            Some(literal) => out.push_str(&format!("${{{literal}}}")),
            None => out.push_str(&format!("placeholder-{}", name.replace(['.', ':'], "-"))),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn template() -> String {
    read(&root().join("template.yaml"))
}

/// The dashboard body of the template's one `AWS::CloudWatch::Dashboard`, parsed.
fn dashboard_body(template: &str) -> Value {
    let dashboards: Vec<Resource> = resources(template)
        .into_iter()
        .filter(|r| r.kind == "AWS::CloudWatch::Dashboard")
        .collect();
    assert_eq!(
        dashboards.len(),
        1,
        "template.yaml should hold exactly one AWS::CloudWatch::Dashboard"
    );
    let body = property(&dashboards[0], "DashboardBody")
        .expect("the dashboard has no DashboardBody property");
    serde_json::from_str(&substitute(&body))
        .unwrap_or_else(|e| panic!("the DashboardBody is not valid JSON: {e}\n{body}"))
}

// ------------------------------------------------------------------ the dashboard's metrics

/// A Stockbridge metric the dashboard shows, with the dimension names it asks for.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Shown {
    name: String,
    dimensions: BTreeSet<String>,
}

/// Every Stockbridge metric the body names: in `metrics` rows (`["Stockbridge", "Name",
/// "Dim", "value", ..., {options}]`) and in `SEARCH('{Stockbridge,Dim} MetricName="Name"')`
/// expressions.
fn shown_metrics(body: &Value) -> Vec<Shown> {
    let mut out = Vec::new();
    let widgets = body["widgets"]
        .as_array()
        .expect("the dashboard body has no widgets array");
    for widget in widgets {
        let Some(rows) = widget["properties"]["metrics"].as_array() else {
            continue;
        };
        for row in rows {
            let row = row.as_array().expect("a metrics row is not an array");
            let strings: Vec<&str> = row.iter().filter_map(Value::as_str).collect();
            match strings.first() {
                Some(&"...") => panic!("write each metrics row out (no \"...\"): {row:?}"),
                Some(&NAMESPACE) => {
                    let name = strings.get(1).expect("a metrics row without a metric name");
                    let dimensions = strings[2..].chunks(2).map(|p| p[0].to_string()).collect();
                    out.push(Shown {
                        name: name.to_string(),
                        dimensions,
                    });
                }
                _ => {}
            }
            for options in row.iter().filter(|v| v.is_object()) {
                if let Some(expression) = options["expression"].as_str() {
                    out.extend(searched_metrics(expression));
                }
            }
        }
    }
    out
}

/// The Stockbridge metrics a metric-math expression searches.
fn searched_metrics(expression: &str) -> Vec<Shown> {
    let mut out = Vec::new();
    let mut rest = expression;
    while let Some(start) = rest.find("SEARCH(") {
        let after = &rest[start..];
        let end = after.find(')').unwrap_or(after.len());
        let search = &after[..end];
        rest = &after[end..];
        let schema = search
            .find('{')
            .and_then(|s| search[s + 1..].find('}').map(|e| &search[s + 1..s + 1 + e]));
        let Some(schema) = schema else {
            panic!("a SEARCH without a {{namespace,dimensions}} schema: {search}");
        };
        let mut parts = schema.split(',').map(|p| p.trim().trim_matches('"'));
        if parts.next() != Some(NAMESPACE) {
            continue;
        }
        let dimensions: BTreeSet<String> = parts.map(str::to_string).collect();
        let names = quoted_after(search, "MetricName=");
        assert!(
            !names.is_empty(),
            "a SEARCH of {NAMESPACE} must name its metric (MetricName=\"...\"): {search}"
        );
        for name in names {
            out.push(Shown {
                name,
                dimensions: dimensions.clone(),
            });
        }
    }
    out
}

/// The double-quoted strings right after each `marker` in `text`.
fn quoted_after(text: &str, marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        if let Some(quoted) = rest.strip_prefix('"') {
            if let Some(end) = quoted.find('"') {
                out.push(quoted[..end].to_string());
            }
        }
    }
    out
}

// ------------------------------------------------------------------ what the code emits

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if !matches!(name.to_str(), Some("target" | "tests" | "benches")) {
                rust_sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The string literal that starts `text` after whitespace, if it does.
fn leading_literal(text: &str) -> Option<&str> {
    let text = text.trim_start().strip_prefix('"')?;
    text.find('"').map(|end| &text[..end])
}

/// The identifier (a path's last segment) that starts `text` after whitespace, if one does.
fn leading_identifier(text: &str) -> Option<&str> {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    let path = &text[..end];
    let last = path.rsplit("::").next().unwrap_or(path);
    (!last.is_empty()).then_some(last)
}

/// The string constants `const NAME: &str = "Value";` of a source text.
fn string_constants(code: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (at, _) in code.match_indices("const ") {
        let rest = &code[at + "const ".len()..];
        let Some((name, value)) = rest.split_once(": &str =") else {
            continue;
        };
        if let (Some(value), false) = (leading_literal(value), name.contains(char::is_whitespace)) {
            out.insert(name.to_string(), value.to_string());
        }
    }
    out
}

/// Metric names emitted by one source file's text (its `#[cfg(test)]` part left out); a
/// constant passed by name is looked up in `constants`.
fn emitted_by(source: &str, constants: &BTreeMap<String, String>) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or("");
    let mut names = BTreeSet::new();
    for call in ["count(", "put("] {
        for (at, _) in code.match_indices(call) {
            let args = &code[at + call.len()..];
            if let Some(name) = leading_literal(args) {
                names.insert(name.to_string());
            } else if let Some(value) = leading_identifier(args).and_then(|c| constants.get(c)) {
                names.insert(value.clone());
            }
        }
    }
    let by_variable = ["count(name", "put(name"].iter().any(|c| code.contains(c));
    if by_variable {
        for (at, _) in code.match_indices("=> (") {
            if let Some(name) = leading_literal(&code[at + 4..]) {
                names.insert(name.to_string());
            }
        }
    }
    names
}

/// Every metric name the Rust sources under `shared/` emit.
fn emitted_metrics() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_sources(&root().join("shared"), &mut files);
    let sources: Vec<String> = files.iter().map(|f| read(f)).collect();
    let constants: BTreeMap<String, String> = sources
        .iter()
        .flat_map(|s| string_constants(s.split("#[cfg(test)]").next().unwrap_or("")))
        .collect();
    sources
        .iter()
        .flat_map(|s| emitted_by(s, &constants))
        .collect()
}

/// The dimension names `telemetry.rs` writes into an EMF line's `Dimensions` (the quoted
/// strings of its `let dimensions = ...;` statement).
fn emitted_dimensions() -> BTreeSet<String> {
    let telemetry = read(&root().join("shared/core/src/telemetry.rs"));
    let start = telemetry
        .find("let dimensions =")
        .expect("telemetry.rs no longer builds `let dimensions = ...`: update this test");
    let statement = &telemetry[start..];
    let statement = &statement[..statement.find(';').unwrap_or(statement.len())];
    statement
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// What is wrong with the metrics a dashboard shows, given what the code emits.
fn dashboard_problems(
    shown: &[Shown],
    emitted: &BTreeSet<String>,
    dimensions: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for metric in shown {
        if !emitted.contains(&metric.name) {
            problems.push(format!(
                "{NAMESPACE}/{} is on the dashboard but no code under shared/ emits it",
                metric.name
            ));
        }
        for dimension in metric.dimensions.difference(dimensions) {
            problems.push(format!(
                "{NAMESPACE}/{} is shown by dimension {dimension}, which the EMF code never \
                 writes (it writes {dimensions:?})",
                metric.name
            ));
        }
    }
    problems
}

// ------------------------------------------------------------------ the tests

#[test]
fn the_dashboard_shows_only_metrics_the_code_emits_with_its_dimensions() {
    let body = dashboard_body(&template());
    let shown = shown_metrics(&body);
    let names: BTreeSet<&str> = shown.iter().map(|m| m.name.as_str()).collect();
    // What the on-call people were promised on one screen.
    for wanted in [
        "WebhookAccepted",
        "WebhookRejected",
        "AppliedLatencyMs",
        "EndToEndLatencyMs",
        "ErpPending",
        "ErpOldestDebtAgeSeconds",
        "ErpCircuitOpen",
        "EventsParked",
        "WebhookQuarantined",
        "ReconcileUnmappedItems",
        "ReconcileVariancePct",
        "ShopifyReadFailed",
        "StockUnsettled",
    ] {
        assert!(
            names.contains(wanted),
            "the dashboard does not show {wanted}"
        );
    }
    let problems = dashboard_problems(&shown, &emitted_metrics(), &emitted_dimensions());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_dashboard_shows_the_events_queue_and_its_dead_letter_queue() {
    let text = dashboard_body(&template()).to_string();
    for (metric, queue) in [
        ("ApproximateNumberOfMessagesVisible", "EventsQueue"),
        ("ApproximateAgeOfOldestMessage", "EventsQueue"),
        (
            "ApproximateNumberOfMessagesVisible",
            "EventsDeadLetterQueue",
        ),
    ] {
        let row =
            format!("[\"AWS/SQS\",\"{metric}\",\"QueueName\",\"placeholder-{queue}-QueueName\"");
        assert!(
            text.contains(&row),
            "the dashboard does not show {metric} of {queue}"
        );
    }
}

#[test]
fn a_metric_no_code_emits_or_a_dimension_never_written_is_caught() {
    let body: Value = serde_json::from_str(&substitute(
        r#"{"widgets": [{"type": "metric", "properties": {"region": "${AWS::Region}", "metrics": [
            ["Stockbridge", "WebhookRejected"],
            ["Stockbridge", "NoCodeEmitsThis", {"stat": "Sum"}],
            ["Stockbridge", "ErpPending", "Function", "consumer"],
            [{"expression": "SEARCH('{Stockbridge,Reason} MetricName=\"AlsoMadeUp\"', 'Sum', 60)", "id": "e"}]
        ]}}]}"#,
    ))
    .expect("the sample body is JSON");
    let shown = shown_metrics(&body);
    assert_eq!(shown.len(), 4, "{shown:?}");
    let problems = dashboard_problems(&shown, &emitted_metrics(), &emitted_dimensions());
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].contains("NoCodeEmitsThis"));
    assert!(problems[1].contains("ErpPending") && problems[1].contains("Function"));
    assert!(problems[2].contains("AlsoMadeUp"));
}

#[test]
fn emitted_names_are_read_from_calls_and_chosen_names_not_from_tests() {
    let source = r#"
        pub const BY_NAME: &str = "PassedAsAConstant";
        pub const NEVER_PASSED: &str = "NotEmitted";
        fn f(m: &Metrics) {
            m.count("Counted", None);
            m.put(
                BY_NAME,
                2.0,
                Unit::Count,
                None,
            );
            m.put(
                "PutOnTheNextLine",
                1.0,
                Unit::Count,
                None,
            );
            let (name, reason) = match outcome {
                Outcome::A => ("ChosenInAnArm", None),
            };
            m.count(name, reason);
            m.total("OnlyRead");
        }
        #[cfg(test)]
        mod tests { fn t(m: &Metrics) { m.count("OnlyInATest", None); } }
    "#;
    let names: Vec<String> = emitted_by(source, &string_constants(source))
        .into_iter()
        .collect();
    assert_eq!(
        names,
        [
            "ChosenInAnArm",
            "Counted",
            "PassedAsAConstant",
            "PutOnTheNextLine"
        ]
    );
    assert_eq!(
        emitted_dimensions(),
        BTreeSet::from(["Reason".to_string()]),
        "telemetry.rs writes other dimensions now: check the dashboard's"
    );
}

#[test]
fn every_alarm_names_an_existing_runbook_that_covers_its_metric() {
    let template = template();
    let alarms: Vec<Resource> = resources(&template)
        .into_iter()
        .filter(|r| r.kind == "AWS::CloudWatch::Alarm")
        .collect();
    assert!(alarms.len() >= 9, "only {} alarms found", alarms.len());
    let index = read(&root().join(RUNBOOKS).join("README.md"));
    let mut problems = Vec::new();
    let mut runbook_of: BTreeMap<String, String> = BTreeMap::new();
    for alarm in &alarms {
        let Some(description) = property(alarm, "AlarmDescription") else {
            problems.push(format!("{} has no AlarmDescription", alarm.id));
            continue;
        };
        if description.len() > ALARM_DESCRIPTION_LIMIT {
            problems.push(format!(
                "{}'s AlarmDescription has {} characters; CloudWatch takes {ALARM_DESCRIPTION_LIMIT}",
                alarm.id,
                description.len()
            ));
        }
        let path = description
            .rsplit_once(RUNBOOK_PREFIX)
            .map(|(_, p)| p.trim())
            .filter(|p| p.starts_with(RUNBOOKS) && p.ends_with(".md") && !p.contains(' '));
        let Some(path) = path else {
            problems.push(format!(
                "{}'s AlarmDescription does not end with \"{RUNBOOK_PREFIX}{RUNBOOKS}/<page>.md\": \
                 {description}",
                alarm.id
            ));
            continue;
        };
        let Ok(page) = fs::read_to_string(root().join(path)) else {
            problems.push(format!("{} names {path}, which does not exist", alarm.id));
            continue;
        };
        let file = path.trim_start_matches(RUNBOOKS).trim_start_matches('/');
        if !index.contains(&format!("({file})")) {
            problems.push(format!("{path} is not linked from {RUNBOOKS}/README.md"));
        }
        match property(alarm, "MetricName") {
            Some(metric) if !page.contains(&metric) => problems.push(format!(
                "{} watches {metric}, which its runbook {path} never mentions",
                alarm.id
            )),
            Some(_) => {}
            None => problems.push(format!("{} has no MetricName", alarm.id)),
        }
        runbook_of.insert(alarm.id.clone(), path.to_string());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(runbook_of.len(), alarms.len());
}

#[test]
fn every_runbook_is_indexed_and_says_what_to_do() {
    let dir = root().join(RUNBOOKS);
    let index = read(&dir.join("README.md"));
    let mut pages = 0;
    for entry in fs::read_dir(&dir).expect("docs/runbooks/ exists").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name == "README.md" || !name.ends_with(".md") {
            continue;
        }
        pages += 1;
        assert!(
            index.contains(&format!("({name})")),
            "{name} is not linked from the index"
        );
        let page = read(&entry.path());
        for section in ["## What it means", "## Confirm", "## Act", "## Fixed when"] {
            assert!(
                page.contains(section),
                "{name} has no \"{section}\" section"
            );
        }
    }
    assert!(pages >= 10, "only {pages} runbooks");
}

#[test]
fn properties_are_read_inline_folded_and_literal() {
    let template = "Resources:\n  A:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n      \
                    AlarmDescription: >-\n        one\n        two\n      MetricName: M\n  \
                    B:\n    Type: X\n    Properties:\n      Body: !Sub |\n        {\"a\":\n          \
                    \"${AWS::Region}\"}\nOutputs:\n  C:\n    Value: 1\n";
    let found = resources(template);
    assert_eq!(found.len(), 2);
    assert_eq!(
        property(&found[0], "AlarmDescription").as_deref(),
        Some("one two")
    );
    assert_eq!(property(&found[0], "MetricName").as_deref(), Some("M"));
    let body = property(&found[1], "Body").expect("literal block");
    assert_eq!(body, "{\"a\":\n  \"${AWS::Region}\"}");
    assert_eq!(substitute(&body), "{\"a\":\n  \"placeholder-AWS--Region\"}");
    assert_eq!(substitute("${!Literal}"), "${Literal}");
}
