//! Tests of the pass decision with in-memory data, destinations and clock: a fake edge carries
//! out the actions the way `runner` does, against strings instead of files.

use std::sync::Arc;

use vaultlet_shared::vault::Secret;

use super::*;

type Values = HashMap<Dependency, Fetched>;

const S: Duration = Duration::from_secs(1);

fn job(dest: &str, text: &str) -> TemplateJob {
    TemplateJob {
        source: None,
        text: text.to_string(),
        options: Options::default(),
        write: WriteSpec {
            path: PathBuf::from(dest),
            ..WriteSpec::default()
        },
        command: None,
        handlebars: false,
        wait: None,
        env: None,
    }
}

fn with_command(mut j: TemplateJob, cmd: &str) -> TemplateJob {
    j.command = Some(CommandRun {
        argv: vec![cmd.to_string()],
        timeout: 30 * S,
    });
    j
}

fn file(path: &str) -> Dependency {
    Dependency::File {
        path: path.to_string(),
    }
}

/// Gives the `file` dependency `path` new content and tells `p`, as a fetcher's update does.
fn arrive(p: &mut Passes, values: &mut Values, path: &str, content: &str) {
    values.insert(file(path), Fetched::File(content.to_string()));
    p.woke();
    p.data_changed(&file(path));
}

/// The edge, faked: destinations are strings in memory, commands are recorded.
#[derive(Default)]
struct Edge {
    files: HashMap<usize, String>,
    writes: usize,
    ran: Vec<String>,
    fetched: Vec<Dependency>,
    forgotten: Vec<Dependency>,
}

impl Edge {
    /// One pass, carried out as `runner` does; `Err` is the error that stops the runner.
    fn pass(&mut self, p: &mut Passes, values: &Values, now: Instant) -> Result<(), RenderError> {
        let mut actions = Vec::new();
        p.plan(values, &mut actions);
        for a in actions {
            match a {
                Action::Fetch(d) => self.fetched.push(d),
                Action::Forget(d) => self.forgotten.push(d),
                Action::Write { slot, text } => {
                    self.write(p, slot, String::from_utf8(text).unwrap())
                }
                Action::Offer { slot, text } => {
                    let text = String::from_utf8(text).unwrap();
                    let current = self.files.get(&slot) == Some(&text);
                    if p.offer(slot, current, text.as_bytes(), now) {
                        self.write(p, slot, text);
                    }
                }
                Action::Fail(e) => return Err(e),
            }
        }
        self.ran.extend(p.commands().map(|c| c.argv.join(" ")));
        Ok(())
    }

    fn write(&mut self, p: &mut Passes, slot: usize, text: String) {
        let changed = self.files.get(&slot) != Some(&text);
        if changed {
            self.files.insert(slot, text);
            self.writes += 1;
        }
        p.written(slot, changed);
    }

    fn file(&self, slot: usize) -> Option<&str> {
        self.files.get(&slot).map(String::as_str)
    }
}

#[test]
fn a_template_with_all_its_data_is_written_once() {
    let mut p = Passes::new(vec![job("/out/a", "a={{ file \"/in/a\" }}")]).unwrap();
    let (mut edge, mut values, t0) = (Edge::default(), Values::new(), Instant::now());
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.fetched, vec![file("/in/a")], "first pass discovers it");
    assert_eq!(edge.file(0), None, "incomplete ⇒ not written");
    arrive(&mut p, &mut values, "/in/a", "1");
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.file(0), Some("a=1"));
    assert_eq!(edge.fetched.len(), 1, "one fetcher per dependency");
    // Nothing new: nothing executes, nothing is written.
    p.woke();
    let mut actions = Vec::new();
    p.plan(&values, &mut actions);
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(edge.writes, 1);
}

#[test]
fn unchanged_output_is_not_rewritten_and_runs_no_command() {
    let mut p = Passes::new(vec![with_command(
        job("/out/a", "{{ file \"/in/a\" | toUpper }}"),
        "reload",
    )])
    .unwrap();
    let (mut edge, mut values, t0) = (Edge::default(), Values::new(), Instant::now());
    edge.pass(&mut p, &values, t0).unwrap();
    arrive(&mut p, &mut values, "/in/a", "x");
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!((edge.file(0), edge.writes), (Some("X"), 1));
    assert_eq!(edge.ran, vec!["reload"]);
    // New data, same output (a refresh of an unchanged secret).
    arrive(&mut p, &mut values, "/in/a", "X");
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.writes, 1, "not rewritten");
    assert_eq!(edge.ran, vec!["reload"], "no command");
    arrive(&mut p, &mut values, "/in/a", "y");
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!((edge.file(0), edge.writes), (Some("Y"), 2));
    assert_eq!(edge.ran, vec!["reload", "reload"]);
}

#[test]
fn a_missing_dependency_holds_its_file_not_the_others_and_init_waits_for_all() {
    let mut p = Passes::new(vec![
        job("/out/a", "{{ file \"/in/a\" }}"),
        job("/out/b", "static"),
    ])
    .unwrap();
    let (mut edge, mut values, t0) = (Edge::default(), Values::new(), Instant::now());
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.file(0), None);
    assert_eq!(edge.file(1), Some("static"), "templates are independent");
    assert!(!p.all_rendered(), "init mode keeps waiting");
    arrive(&mut p, &mut values, "/in/a", "");
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.file(0), Some(""), "empty data is data");
    assert!(p.all_rendered(), "init mode is done");
    assert_eq!(edge.writes, 2, "the static template is not written again");
}

#[test]
fn a_destination_found_current_counts_as_rendered() {
    let mut p = Passes::new(vec![with_command(job("/out/a", "same"), "reload")]).unwrap();
    let mut edge = Edge::default();
    edge.files.insert(0, "same".into());
    edge.pass(&mut p, &Values::new(), Instant::now()).unwrap();
    assert!(p.all_rendered());
    assert_eq!(edge.writes, 0);
    assert!(edge.ran.is_empty());
}

#[test]
fn nested_dependencies_are_found_pass_by_pass_and_unused_ones_forgotten() {
    // The path to read comes from another file: n-pass evaluation (agent.md §5.7).
    let mut p = Passes::new(vec![job(
        "/out/a",
        "{{ with file \"/in/which\" }}{{ file . }}{{ end }}",
    )])
    .unwrap();
    let (mut edge, mut values, t0) = (Edge::default(), Values::new(), Instant::now());
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.fetched, vec![file("/in/which")]);
    arrive(&mut p, &mut values, "/in/which", "/in/x");
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.fetched, vec![file("/in/which"), file("/in/x")]);
    assert_eq!(edge.file(0), None);
    arrive(&mut p, &mut values, "/in/x", "X");
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.file(0), Some("X"));
    assert!(edge.forgotten.is_empty());
    arrive(&mut p, &mut values, "/in/which", "/in/y");
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.fetched.last(), Some(&file("/in/y")));
    assert_eq!(
        edge.forgotten,
        vec![file("/in/x")],
        "no template uses it now"
    );
    assert_eq!(edge.file(0), Some("X"), "old file kept until /in/y arrives");
}

#[test]
fn a_dependency_shared_by_two_templates_is_fetched_once_and_kept_while_used() {
    let mut p = Passes::new(vec![
        job("/out/a", "{{ file \"/in/s\" }}"),
        job(
            "/out/b",
            "{{ with file \"/in/on\" }}{{ file \"/in/s\" }}{{ end }}",
        ),
    ])
    .unwrap();
    let (mut edge, mut values, t0) = (Edge::default(), Values::new(), Instant::now());
    edge.pass(&mut p, &values, t0).unwrap();
    arrive(&mut p, &mut values, "/in/on", "1");
    arrive(&mut p, &mut values, "/in/s", "s");
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.fetched, vec![file("/in/s"), file("/in/on")]);
    assert_eq!((edge.file(0), edge.file(1)), (Some("s"), Some("s")));
    // b stops using /in/s; a still does.
    arrive(&mut p, &mut values, "/in/on", "");
    edge.pass(&mut p, &values, t0).unwrap();
    assert!(edge.forgotten.is_empty(), "{:?}", edge.forgotten);
}

#[test]
fn wait_holds_a_change_until_it_is_quiet_then_writes() {
    let mut held = job("/out/a", "{{ file \"/in/a\" }}");
    held.wait = Some((2 * S, 10 * S));
    let mut p = Passes::new(vec![with_command(held, "reload")]).unwrap();
    let (mut edge, mut values, t0) = (Edge::default(), Values::new(), Instant::now());
    edge.pass(&mut p, &values, t0).unwrap();
    arrive(&mut p, &mut values, "/in/a", "v1");
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.file(0), Some("v1"), "the first render is not held");
    assert_eq!(p.wake(), None);
    arrive(&mut p, &mut values, "/in/a", "v2");
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.file(0), Some("v1"), "held");
    assert_eq!(p.wake(), Some(t0 + 2 * S));
    // Another change one second later restarts `min`.
    arrive(&mut p, &mut values, "/in/a", "v3");
    edge.pass(&mut p, &values, t0 + S).unwrap();
    assert_eq!((edge.file(0), p.wake()), (Some("v1"), Some(t0 + 3 * S)));
    // The hold's end: the runner wakes with no news; the held template executes again.
    p.woke();
    edge.pass(&mut p, &values, t0 + 3 * S).unwrap();
    assert_eq!(edge.file(0), Some("v3"));
    assert_eq!(p.wake(), None);
    assert_eq!(
        edge.ran,
        vec!["reload", "reload"],
        "v1, then v3 (v2 never written)"
    );
}

#[test]
fn wait_never_holds_longer_than_max() {
    let mut held = job("/out/a", "{{ file \"/in/a\" }}");
    held.wait = Some((2 * S, 3 * S));
    let mut p = Passes::new(vec![held]).unwrap();
    let (mut edge, mut values, t0) = (Edge::default(), Values::new(), Instant::now());
    arrive(&mut p, &mut values, "/in/a", "v0");
    edge.pass(&mut p, &values, t0).unwrap();
    for (n, v) in ["v1", "v2", "v3"].into_iter().enumerate() {
        arrive(&mut p, &mut values, "/in/a", v);
        edge.pass(&mut p, &values, t0 + S * n as u32).unwrap();
    }
    assert_eq!((edge.file(0), p.wake()), (Some("v0"), Some(t0 + 3 * S)));
    arrive(&mut p, &mut values, "/in/a", "v4");
    edge.pass(&mut p, &values, t0 + 3 * S).unwrap();
    assert_eq!(edge.file(0), Some("v4"), "max reached");
}

#[test]
fn a_held_change_that_goes_back_to_the_file_is_dropped() {
    let mut held = job("/out/a", "{{ file \"/in/a\" }}");
    held.wait = Some((2 * S, 10 * S));
    let mut p = Passes::new(vec![held]).unwrap();
    let (mut edge, mut values, t0) = (Edge::default(), Values::new(), Instant::now());
    arrive(&mut p, &mut values, "/in/a", "v1");
    edge.pass(&mut p, &values, t0).unwrap();
    arrive(&mut p, &mut values, "/in/a", "v2");
    edge.pass(&mut p, &values, t0).unwrap();
    assert!(p.wake().is_some());
    arrive(&mut p, &mut values, "/in/a", "v1");
    edge.pass(&mut p, &values, t0 + S).unwrap();
    assert_eq!(p.wake(), None, "nothing is held any more");
    assert_eq!(edge.writes, 1);
    // A new change starts a fresh hold.
    arrive(&mut p, &mut values, "/in/a", "v3");
    edge.pass(&mut p, &values, t0 + 5 * S).unwrap();
    assert_eq!(p.wake(), Some(t0 + 7 * S));
}

#[test]
fn commands_run_after_the_pass_in_config_order_once_each() {
    let mut p = Passes::new(vec![
        with_command(job("/out/a", "a{{ file \"/in/x\" }}"), "restart"),
        with_command(job("/out/b", "b{{ file \"/in/x\" }}"), "reload"),
        with_command(job("/out/c", "c{{ file \"/in/x\" }}"), "restart"),
        job("/out/d", "d{{ file \"/in/x\" }}"),
    ])
    .unwrap();
    let (mut edge, mut values, t0) = (Edge::default(), Values::new(), Instant::now());
    edge.pass(&mut p, &values, t0).unwrap();
    assert!(edge.ran.is_empty(), "nothing written, nothing run");
    arrive(&mut p, &mut values, "/in/x", "1");
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.ran, vec!["restart", "reload"]);
    // Only b's destination differs from its output (someone edited it).
    edge.files.insert(1, "stale".into());
    arrive(&mut p, &mut values, "/in/x", "1");
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.ran, vec!["restart", "reload", "reload"]);
    assert_eq!(p.commands().count(), 1);
}

#[test]
fn an_execution_error_stops_the_pass_and_keeps_the_old_file() {
    let tmpl = "{{ (file \"/in/a\" | parseJSON).k.deeper }}";
    let mut p = Passes::new(vec![
        with_command(job("/out/a", tmpl), "reload"),
        job("/out/b", "{{ file \"/in/a\" }}"),
    ])
    .unwrap();
    let (mut edge, mut values, t0) = (Edge::default(), Values::new(), Instant::now());
    arrive(&mut p, &mut values, "/in/a", r#"{"k":{"deeper":"v1"}}"#);
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.file(0), Some("v1"));
    arrive(&mut p, &mut values, "/in/a", r#"{"j":1}"#);
    let mut actions = Vec::new();
    p.plan(&values, &mut actions);
    // Only the failure: no write (the old file stays, never blanked), and the later template is
    // not executed in that pass (agent.md §5.6).
    let [Action::Fail(e)] = &actions[..] else {
        panic!("{actions:?}");
    };
    assert!(
        matches!(e, RenderError::Template { label, destination, .. } if label == "(dynamic)" && destination == "/out/a"),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("(dynamic): execute: template: :1:"),
        "{e}"
    );
    assert!(e.to_string().contains("nil pointer evaluating"), "{e}");
}

#[test]
fn strict_handlebars_without_data_is_not_ready_rather_than_an_error() {
    let mut hb = job(
        "/out/a",
        "{{#with (secret \"kv/app\")}}pw={{Data.password}}{{/with}}",
    );
    hb.handlebars = true;
    let mut p = Passes::new(vec![hb]).unwrap();
    let (mut edge, mut values, t0) = (Edge::default(), Values::new(), Instant::now());
    edge.pass(&mut p, &values, t0).unwrap();
    let dep = Dependency::Read {
        path: "kv/app".into(),
    };
    assert_eq!(edge.fetched, vec![dep.clone()]);
    assert_eq!(edge.file(0), None);
    let s = Secret::from_json(br#"{"data":{"password":"p"}}"#).unwrap();
    values.insert(dep.clone(), Fetched::Secret(Some(Arc::new(s))));
    p.data_changed(&dep);
    edge.pass(&mut p, &values, t0).unwrap();
    assert_eq!(edge.file(0), Some("pw=p"));
    // With the data there, the same strict lookup of a missing field is an error.
    let s = Secret::from_json(br#"{"data":{"pasword":"p"}}"#).unwrap();
    values.insert(dep.clone(), Fetched::Secret(Some(Arc::new(s))));
    p.data_changed(&dep);
    let e = edge.pass(&mut p, &values, t0).unwrap_err();
    assert!(e.to_string().contains("password"), "{e}");
}

#[test]
fn go_templates_without_data_print_nothing_until_it_arrives() {
    // `error_on_missing_key` off: field access on the nil a missing `secret` gives is no error,
    // and the incomplete text is not written.
    let mut p = Passes::new(vec![job("/out/a", "{{ (secret \"kv/app\").Data.k }}")]).unwrap();
    let (mut edge, t0) = (Edge::default(), Instant::now());
    edge.pass(&mut p, &Values::new(), t0).unwrap();
    assert_eq!(edge.file(0), None);
    assert_eq!(edge.writes, 0);
    // With `error_on_missing_key`, the same template fails at once, as the Go engine fails on the
    // nil data (agent.md §5.6: execution errors are fatal); `with` is the way to wait for data.
    let mut strict = job("/out/a", "{{ (secret \"kv/app\").Data.k }}");
    strict.options.missing_key_error = true;
    let mut p = Passes::new(vec![strict]).unwrap();
    let e = Edge::default()
        .pass(&mut p, &Values::new(), t0)
        .unwrap_err();
    assert!(e.to_string().contains("nil data; no entry for key"), "{e}");
}

#[test]
fn only_templates_whose_data_changed_or_that_read_the_clock_execute_again() {
    let mut p = Passes::new(vec![
        job("/out/a", "{{ file \"/in/a\" }}"),
        job("/out/t", "{{ timestamp \"2006\" }}"),
        job("/out/b", "{{ file \"/in/b\" }}"),
    ])
    .unwrap();
    let mut values = Values::new();
    arrive(&mut p, &mut values, "/in/a", "a");
    arrive(&mut p, &mut values, "/in/b", "b");
    let mut actions = Vec::new();
    p.plan(&values, &mut actions);
    let written = |actions: &[Action]| -> Vec<usize> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Write { slot, .. } => Some(*slot),
                _ => None,
            })
            .collect()
    };
    assert_eq!(written(&actions), vec![0, 1, 2]);
    arrive(&mut p, &mut values, "/in/b", "b2");
    actions.clear();
    p.plan(&values, &mut actions);
    assert_eq!(written(&actions), vec![1, 2]);
}

#[test]
fn a_changed_source_is_parsed_again_and_everything_executes() {
    let mut p = Passes::new(vec![job("/out/a", "one"), job("/out/b", "two")]).unwrap();
    let (mut edge, t0) = (Edge::default(), Instant::now());
    edge.pass(&mut p, &Values::new(), t0).unwrap();
    p.jobs_mut().next().unwrap().text = "uno".into();
    p.reparse().unwrap();
    edge.pass(&mut p, &Values::new(), t0).unwrap();
    assert_eq!((edge.file(0), edge.file(1)), (Some("uno"), Some("two")));
    // A source that no longer parses is fatal and changes nothing.
    p.jobs_mut().nth(1).unwrap().text = "{{ nope }}".into();
    let e = p.reparse().unwrap_err();
    assert!(
        matches!(&e, RenderError::Template { destination, .. } if destination == "/out/b"),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("(dynamic): parse: "), "{e}");
    let mut actions = Vec::new();
    p.plan(&Values::new(), &mut actions);
    assert!(actions.is_empty(), "{actions:?}");
}

#[test]
fn a_template_that_does_not_parse_names_itself() {
    let Err(e) = Passes::new(vec![job("/out/a", "ok"), job("/out/b", "{{ if }}")]) else {
        panic!("parsed");
    };
    assert!(
        matches!(&e, RenderError::Template { destination, .. } if destination == "/out/b"),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("(dynamic): parse: "), "{e}");
}

#[test]
fn the_first_pass_runs_without_data_and_its_errors_are_fatal() {
    // Before any data, `secret` gives nil: `index` and `len` of its `.Data` fail at once
    // (agent.md §5.7), although the data exists; nothing is written, the next template waits.
    for tmpl in [
        "{{ index (secret \"kv/app\").Data \"data\" }}",
        "{{ len (secret \"kv/app\").Data }}",
    ] {
        let mut p = Passes::new(vec![job("/out/a", tmpl), job("/out/b", "b")]).unwrap();
        let mut actions = Vec::new();
        p.plan(&Values::new(), &mut actions);
        let [Action::Fail(e)] = &actions[..] else {
            panic!("{tmpl}: {actions:?}");
        };
        assert!(e.to_string().contains("error calling"), "{e}");
    }
    // The `with` form waits for the data instead.
    let tmpl = "{{ with secret \"kv/app\" }}{{ index .Data \"k\" }}{{ end }}";
    let mut p = Passes::new(vec![job("/out/a", tmpl)]).unwrap();
    let (mut edge, t0) = (Edge::default(), Instant::now());
    edge.pass(&mut p, &Values::new(), t0).unwrap();
    assert_eq!((edge.file(0), edge.writes), (None, 0));
}

#[test]
fn output_that_is_not_utf8_is_written_as_its_bytes() {
    let mut p = Passes::new(vec![job("/out/a", "{{ \"/4D+\" | base64Decode }}!")]).unwrap();
    let mut actions = Vec::new();
    p.plan(&Values::new(), &mut actions);
    let [Action::Write { slot: 0, text }] = &actions[..] else {
        panic!("{actions:?}");
    };
    assert_eq!(text, &[0xff, 0x80, 0xfe, b'!']);
}
