//! Parsing and validating one playbook file. Every problem is reported with the file and the field path
//! (`steps[0].action: unknown action "delete-pods"`), all of them at once rather than the first only.
use medic_core::{ObjectKind, Risk, RootCauseClass};
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Error, Issue, Issues, Result};
use crate::schema::{
    ACTIONS, Approval, CHECKS, CheckTemplate, FieldKind, FieldSchema, FieldTemplate, ParamType, Parameter, Playbook,
    RollbackMode, StepTemplate, VerifyTemplate, action_schema, check_schema,
};
use crate::template::{Reference, Template};
use crate::values::parse_duration;

const TOP_LEVEL: &[&str] =
    &["id", "version", "description", "match", "parameters", "steps", "verify", "rollback", "risk", "approval"];

/// Parse and validate the YAML text of one playbook; `file` names it in errors.
pub fn parse_playbook(file: &str, text: &str) -> Result<Playbook> {
    let value: Value = serde_yaml_ng::from_str(text).map_err(|e| Error::Syntax {
        file: file.to_string(),
        line: e.location().map(|l| l.line()),
        column: e.location().map(|l| l.column()),
        message: e.to_string(),
    })?;
    let mut v = Validator { issues: Vec::new() };
    let playbook = v.playbook(&value, file);
    match playbook {
        Some(p) if v.issues.is_empty() => Ok(p),
        _ => {
            if v.issues.is_empty() {
                v.issues.push(Issue::new("", "the playbook is not valid"));
            }
            Err(Error::Invalid { file: file.to_string(), issues: Issues(v.issues) })
        }
    }
}

struct Validator {
    issues: Vec<Issue>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

impl Validator {
    fn issue(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.issues.push(Issue::new(field, problem));
    }

    fn mapping<'a>(&mut self, v: &'a Value, path: &str, allowed: &[&str]) -> Option<&'a Mapping> {
        let Value::Mapping(m) = v else {
            self.issue(path, format!("expected a mapping, found {}", describe(v)));
            return None;
        };
        for key in m.keys() {
            match key.as_str() {
                Some(k) if allowed.contains(&k) => {}
                Some(k) => {
                    let field = join(path, k);
                    self.issue(field, format!("unknown field (expected one of: {})", allowed.join(", ")));
                }
                None => self.issue(path, "keys must be strings"),
            }
        }
        Some(m)
    }

    fn required<'a>(&mut self, m: &'a Mapping, path: &str, key: &str) -> Option<&'a Value> {
        match m.get(key) {
            Some(Value::Null) | None => {
                self.issue(join(path, key), "missing field");
                None
            }
            Some(v) => Some(v),
        }
    }

    /// A scalar as text: strings as they are, numbers and booleans as YAML writes them.
    fn scalar(&mut self, v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => {
                self.issue(path, format!("expected a single value, found {}", describe(other)));
                None
            }
        }
    }

    fn string(&mut self, m: &Mapping, path: &str, key: &str) -> Option<String> {
        let v = self.required(m, path, key)?;
        match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::String(_) => {
                self.issue(join(path, key), "must not be empty");
                None
            }
            other => {
                self.issue(join(path, key), format!("expected a string, found {}", describe(other)));
                None
            }
        }
    }

    fn template(&mut self, text: &str, path: &str) -> Option<Template> {
        match Template::parse(text) {
            Ok(t) => Some(t),
            Err(e) => {
                self.issue(path, e);
                None
            }
        }
    }

    fn choice<T: Copy>(&mut self, m: &Mapping, path: &str, key: &str, options: &[(&str, T)]) -> Option<T> {
        let text = self.string(m, path, key)?;
        match options.iter().find(|(name, _)| *name == text) {
            Some((_, value)) => Some(*value),
            None => {
                let names: Vec<_> = options.iter().map(|(n, _)| *n).collect();
                self.issue(join(path, key), format!("unknown value {text:?} (expected one of: {})", names.join(", ")));
                None
            }
        }
    }

    fn duration(&mut self, m: &Mapping, path: &str, key: &str, default: Option<Duration>) -> Option<Duration> {
        if m.get(key).is_none()
            && let Some(d) = default
        {
            return Some(d);
        }
        let v = self.required(m, path, key)?;
        let text = self.scalar(v, &join(path, key))?;
        match parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.issue(join(path, key), e);
                None
            }
        }
    }

    fn playbook(&mut self, root: &Value, file: &str) -> Option<Playbook> {
        let m = self.mapping(root, "", TOP_LEVEL)?;
        let id = self.string(m, "", "id");
        if let Some(id) = &id
            && !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            self.issue("id", format!("{id:?} must be kebab-case (a-z, 0-9 and -)"));
        }
        let version = self.string(m, "", "version");
        if let Some(v) = &version
            && let Err(e) = semver::Version::parse(v)
        {
            self.issue("version", format!("{v:?} is not a semantic version (like 1.0.0): {e}"));
        }
        let description = self.string(m, "", "description");
        let (classes, target_kinds) = match self.required(m, "", "match") {
            Some(v) => self.matcher(v).unzip(),
            None => (None, None),
        };
        let parameters = match m.get("parameters") {
            None | Some(Value::Null) => Some(BTreeMap::new()),
            Some(v) => self.parameters(v),
        };
        let declared = parameters.clone().unwrap_or_default();
        let steps = match m.get("steps") {
            None | Some(Value::Null) => {
                self.issue("steps", "missing field (write `steps: []` for a playbook that does nothing)");
                None
            }
            Some(v) => self.steps(v, &declared),
        };
        let has_steps = steps.as_ref().is_some_and(|s| !s.is_empty());
        let verify = match m.get("verify") {
            None | Some(Value::Null) if !has_steps => {
                Some(VerifyTemplate { checks: Vec::new(), timeout: Duration::ZERO, stable: Duration::ZERO })
            }
            None | Some(Value::Null) => {
                self.issue("verify", "missing field (a playbook that changes something must say how to verify it)");
                None
            }
            Some(v) => self.verify(v, &declared, has_steps),
        };
        let rollback = if m.contains_key("rollback") {
            self.choice(m, "", "rollback", &[("automatic", RollbackMode::Automatic), ("none", RollbackMode::None)])
        } else {
            Some(RollbackMode::Automatic)
        };
        let risk = self.choice(m, "", "risk", &[("low", Risk::Low), ("medium", Risk::Medium), ("high", Risk::High)]);
        let approval = if m.contains_key("approval") {
            self.choice(
                m,
                "",
                "approval",
                &[("never", Approval::Never), ("always", Approval::Always), ("when-risk-high", Approval::WhenRiskHigh)],
            )
        } else {
            Some(Approval::WhenRiskHigh)
        };
        Some(Playbook {
            id: id?,
            version: version?,
            description: description?,
            classes: classes?,
            target_kinds: target_kinds?,
            parameters: parameters?,
            steps: steps?,
            verify: verify?,
            rollback: rollback?,
            risk: risk?,
            approval: approval?,
            source: file.to_string(),
        })
    }

    fn list<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a [Value]> {
        match v {
            Value::Sequence(s) => Some(s),
            other => {
                self.issue(path, format!("expected a list, found {}", describe(other)));
                None
            }
        }
    }

    fn matcher(&mut self, v: &Value) -> Option<(Vec<RootCauseClass>, Vec<ObjectKind>)> {
        let m = self.mapping(v, "match", &["classes", "target_kinds"])?;
        let mut classes = Vec::new();
        let mut ok = true;
        if let Some(list) = self.required(m, "match", "classes").and_then(|v| self.list(v, "match.classes")) {
            if list.is_empty() {
                self.issue("match.classes", "must name at least one root-cause class");
                ok = false;
            }
            for (i, item) in list.iter().enumerate() {
                let path = format!("match.classes[{i}]");
                match self.scalar(item, &path).map(|s| s.parse::<RootCauseClass>().map_err(|_| s)) {
                    Some(Ok(c)) => classes.push(c),
                    Some(Err(s)) => {
                        let known: Vec<_> = RootCauseClass::ALL.iter().map(|c| c.as_str()).collect();
                        self.issue(path, format!("unknown root-cause class {s:?} (known: {})", known.join(", ")));
                        ok = false;
                    }
                    None => ok = false,
                }
            }
        } else {
            ok = false;
        }
        let mut kinds = Vec::new();
        if let Some(v) = m.get("target_kinds").filter(|v| !v.is_null()) {
            match self.list(v, "match.target_kinds") {
                Some(list) => {
                    for (i, item) in list.iter().enumerate() {
                        let path = format!("match.target_kinds[{i}]");
                        match self.scalar(item, &path).map(|s| s.parse::<ObjectKind>().map_err(|_| s)) {
                            Some(Ok(k)) => kinds.push(k),
                            Some(Err(s)) => {
                                self.issue(path, format!("unknown object kind {s:?}"));
                                ok = false;
                            }
                            None => ok = false,
                        }
                    }
                }
                None => ok = false,
            }
        }
        ok.then_some((classes, kinds))
    }

    fn parameters(&mut self, v: &Value) -> Option<BTreeMap<String, Parameter>> {
        let Value::Mapping(m) = v else {
            self.issue("parameters", format!("expected a mapping of name to declaration, found {}", describe(v)));
            return None;
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, decl) in m {
            let Some(name) = key.as_str() else {
                self.issue("parameters", "parameter names must be strings");
                ok = false;
                continue;
            };
            let path = join("parameters", name);
            if !crate::template::is_identifier(name) {
                self.issue(&path, "a parameter name may use letters, digits, _ and - only");
                ok = false;
                continue;
            }
            match self.parameter(decl, &path) {
                Some(p) => {
                    out.insert(name.to_string(), p);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn parameter(&mut self, v: &Value, path: &str) -> Option<Parameter> {
        let m = self.mapping(v, path, &["type", "required", "default", "description"])?;
        let types: Vec<(&str, ParamType)> = ParamType::ALL.iter().map(|t| (t.as_str(), *t)).collect();
        let kind = self.choice(m, path, "type", &types);
        let required = match m.get("required") {
            None | Some(Value::Null) => Some(false),
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                self.issue(join(path, "required"), format!("expected true or false, found {}", describe(other)));
                None
            }
        };
        let default_path = join(path, "default");
        let default = match m.get("default") {
            None | Some(Value::Null) => Some(None),
            Some(v) => self.scalar(v, &default_path).and_then(|t| self.template(&t, &default_path)).map(Some),
        };
        if let (Some(Some(t)), Some(kind)) = (&default, kind) {
            if t.references().any(|r| matches!(r, Reference::Param(_))) {
                self.issue(
                    &default_path,
                    "a default may refer to the target, the incident and the context, not to parameters",
                );
            }
            if let Some(r) = t.references().find(|r| matches!(r, Reference::Context(c) if c.is_map())) {
                self.issue(&default_path, format!("{r} is a map and cannot be a parameter value"));
            }
            if let Some(literal) = t.as_literal()
                && let Err(e) = kind.check(literal)
            {
                self.issue(&default_path, e);
            }
        }
        let description = match m.get("description") {
            None | Some(Value::Null) => Some(String::new()),
            Some(v) => self.scalar(v, &join(path, "description")),
        };
        Some(Parameter { kind: kind?, required: required?, default: default?, description: description? })
    }

    fn steps(&mut self, v: &Value, params: &BTreeMap<String, Parameter>) -> Option<Vec<StepTemplate>> {
        let list = self.list(v, "steps")?;
        let mut steps = Vec::with_capacity(list.len());
        let mut ok = true;
        for (i, item) in list.iter().enumerate() {
            match self.step(item, &format!("steps[{i}]"), params) {
                Some(s) => steps.push(s),
                None => ok = false,
            }
        }
        ok.then_some(steps)
    }

    fn step(&mut self, v: &Value, path: &str, params: &BTreeMap<String, Parameter>) -> Option<StepTemplate> {
        let Value::Mapping(m) = v else {
            self.issue(path, format!("expected a mapping with an `action`, found {}", describe(v)));
            return None;
        };
        let name = self.string(m, path, "action")?;
        let Some(action) = action_schema(&name) else {
            let known: Vec<_> = ACTIONS.iter().map(|a| a.name).collect();
            self.issue(join(path, "action"), format!("unknown action {name:?} (known: {})", known.join(", ")));
            return None;
        };
        let mut allowed: Vec<&str> = vec!["action"];
        allowed.extend(action.fields.iter().map(|f| f.name));
        self.mapping(v, path, &allowed)?;
        let fields = self.fields(m, path, action.fields, params)?;
        if !action.at_least_one_of.is_empty() && !fields.iter().any(|(f, _)| action.at_least_one_of.contains(&f.name)) {
            self.issue(path, format!("{name} needs at least one of: {}", action.at_least_one_of.join(", ")));
            return None;
        }
        Some(StepTemplate { action, fields })
    }

    /// The fields of a step or check, each checked against its schema and the declared parameters.
    fn fields(
        &mut self,
        m: &Mapping,
        path: &str,
        schema: &'static [FieldSchema],
        params: &BTreeMap<String, Parameter>,
    ) -> Option<Vec<(&'static FieldSchema, FieldTemplate)>> {
        let mut out = Vec::new();
        let mut ok = true;
        for field in schema {
            let field_path = join(path, field.name);
            let value = match m.get(field.name) {
                None | Some(Value::Null) if field.required => {
                    self.issue(field_path, "missing field");
                    ok = false;
                    continue;
                }
                None | Some(Value::Null) => match field.default {
                    Some(d) => Value::String(d.to_string()),
                    None => continue,
                },
                Some(v) => v.clone(),
            };
            match self.field(&value, &field_path, field, params) {
                Some(t) => out.push((field, t)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn field(
        &mut self,
        v: &Value,
        path: &str,
        field: &FieldSchema,
        params: &BTreeMap<String, Parameter>,
    ) -> Option<FieldTemplate> {
        if field.kind.is_map() {
            if let Value::Mapping(m) = v {
                let mut map = BTreeMap::new();
                let mut ok = true;
                for (key, value) in m {
                    let Some(key) = key.as_str() else {
                        self.issue(path, "keys must be strings");
                        ok = false;
                        continue;
                    };
                    let entry_path = join(path, key);
                    let Some(t) = self.scalar(value, &entry_path).and_then(|s| self.template(&s, &entry_path)) else {
                        ok = false;
                        continue;
                    };
                    let expected =
                        if field.kind == FieldKind::Quantities { ParamType::Quantity } else { ParamType::String };
                    if let Some(literal) = t.as_literal()
                        && let Err(e) = expected.check(literal)
                    {
                        self.issue(&entry_path, e);
                        ok = false;
                    }
                    ok &= self.references_fit(&t, &entry_path, expected, params);
                    map.insert(key.to_string(), t);
                }
                return ok.then_some(FieldTemplate::Map(map));
            }
            let text = self.scalar(v, path)?;
            let t = self.template(&text, path)?;
            return match t.sole_reference() {
                Some(r @ Reference::Context(c)) if c.is_map() => Some(FieldTemplate::MapRef(r.clone())),
                _ => {
                    self.issue(path, "expected a mapping (or a placeholder giving one, like ${context.selector})");
                    None
                }
            };
        }
        let text = self.scalar(v, path)?;
        let t = self.template(&text, path)?;
        let expected = match field.kind {
            FieldKind::Integer => ParamType::Integer,
            FieldKind::Boolean => ParamType::Boolean,
            _ => ParamType::String,
        };
        if let Some(literal) = t.as_literal()
            && expected != ParamType::String
            && let Err(e) = expected.check(literal)
        {
            self.issue(path, e);
            return None;
        }
        self.references_fit(&t, path, expected, params).then_some(FieldTemplate::Scalar(t))
    }

    /// Every reference in `t` exists, is a scalar, and (when it is the whole value) has the expected type.
    fn references_fit(
        &mut self,
        t: &Template,
        path: &str,
        expected: ParamType,
        params: &BTreeMap<String, Parameter>,
    ) -> bool {
        let mut ok = true;
        for r in t.references() {
            match r {
                Reference::Param(name) => match params.get(name) {
                    None => {
                        let declared: Vec<_> = params.keys().map(String::as_str).collect();
                        let declared = if declared.is_empty() { "none".to_string() } else { declared.join(", ") };
                        self.issue(path, format!("unknown parameter {name:?} (declared: {declared})"));
                        ok = false;
                    }
                    Some(p) if t.sole_reference().is_some() && !fits(p.kind, expected) => {
                        self.issue(
                            path,
                            format!(
                                "parameter {name:?} is {} but this field needs {}",
                                p.kind.with_article(),
                                expected.with_article()
                            ),
                        );
                        ok = false;
                    }
                    Some(_) => {}
                },
                Reference::Context(c) if c.is_map() => {
                    self.issue(path, format!("{r} is a map and cannot be used in a single value"));
                    ok = false;
                }
                _ => {}
            }
        }
        if t.sole_reference().is_none() && t.as_literal().is_none() && expected != ParamType::String {
            self.issue(path, format!("{} field takes a literal or a single placeholder", expected.with_article()));
            ok = false;
        }
        ok
    }

    fn verify(&mut self, v: &Value, params: &BTreeMap<String, Parameter>, has_steps: bool) -> Option<VerifyTemplate> {
        let m = self.mapping(v, "verify", &["checks", "timeout", "stable"])?;
        let checks = match self.required(m, "verify", "checks") {
            Some(v) => self.checks(v, params),
            None => None,
        };
        if has_steps && checks.as_ref().is_some_and(Vec::is_empty) {
            self.issue("verify.checks", "must have at least one check");
        }
        let timeout = self.duration(m, "verify", "timeout", None);
        if timeout == Some(Duration::ZERO) && has_steps {
            self.issue("verify.timeout", "must be longer than zero");
        }
        let stable = self.duration(m, "verify", "stable", Some(Duration::ZERO));
        if let (Some(t), Some(s)) = (timeout, stable)
            && s > t
        {
            self.issue("verify.stable", "must not be longer than verify.timeout");
        }
        Some(VerifyTemplate { checks: checks?, timeout: timeout?, stable: stable? })
    }

    fn checks(&mut self, v: &Value, params: &BTreeMap<String, Parameter>) -> Option<Vec<CheckTemplate>> {
        let list = self.list(v, "verify.checks")?;
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in list.iter().enumerate() {
            let path = format!("verify.checks[{i}]");
            let Value::Mapping(m) = item else {
                self.issue(&path, format!("expected a mapping with a `check`, found {}", describe(item)));
                ok = false;
                continue;
            };
            let Some(name) = self.string(m, &path, "check") else {
                ok = false;
                continue;
            };
            let Some(check) = check_schema(&name) else {
                let known: Vec<_> = CHECKS.iter().map(|c| c.name).collect();
                self.issue(join(&path, "check"), format!("unknown check {name:?} (known: {})", known.join(", ")));
                ok = false;
                continue;
            };
            let mut allowed: Vec<&str> = vec!["check"];
            allowed.extend(check.fields.iter().map(|f| f.name));
            if self.mapping(item, &path, &allowed).is_none() {
                ok = false;
                continue;
            }
            match self.fields(m, &path, check.fields, params) {
                Some(fields) => {
                    let fields = fields
                        .into_iter()
                        .filter_map(|(f, t)| match t {
                            FieldTemplate::Scalar(t) => Some((f, t)),
                            _ => None,
                        })
                        .collect();
                    out.push(CheckTemplate { check, fields });
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

fn fits(have: ParamType, need: ParamType) -> bool {
    have == need || need == ParamType::String || (need == ParamType::Quantity && have == ParamType::Integer)
}
