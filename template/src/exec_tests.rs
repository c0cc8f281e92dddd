//! Unit tests of the evaluator: every rule of agent.md §4.1–4.3 with a fake function table.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use vaultlet_shared::json::Json;

use crate::{
    CallEnv, Context, Dependency, Fetched, Func, Object, Options, Record, Template, TemplateError,
    Value,
};

struct Ctx;

impl Context for Ctx {
    fn fetch(&mut self, _dep: &Dependency) -> Option<Result<Fetched, String>> {
        None
    }
    fn env(&self, _name: &str) -> Option<String> {
        None
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
    }
    fn real_path(&self, _path: &Path) -> Option<PathBuf> {
        None
    }
}

fn data() -> Value {
    let j = Json::parse(
        r#"{"str":"hello world","int":42,"zero":0,"big":12345678901234567890,"exp":1e3,"t":true,"f":false,"nil":null,
        "empty":"","list":["a","b",1,true,null],"emptylist":[],"emptymap":{},
        "map":{"b":"2","a":"1","z":{"y":[1,2],"x":null}},"space key":"v","Upper":"U","port":"5432",
        "objs":[{"name":"web"},null]}"#,
    )
    .unwrap();
    Value::from_json(&j)
}

/// `secret "x"`: a record whose `.Data` is [`data`]; `secret "missing"` is nil and recorded.
fn fake_secret(env: &mut CallEnv<'_>, args: &[Value]) -> Result<Value, String> {
    if args.len() != 1 {
        return Err(format!(
            "wrong number of args for secret: want 1 got {}",
            args.len()
        ));
    }
    let path = args[0].expect_str()?.to_string();
    let dep = Dependency::Read { path: path.clone() };
    env.used.push(dep.clone());
    if path == "missing" {
        env.missing.push(dep);
        return Ok(Value::Nil);
    }
    if path == "boom" {
        return Err("Code: 403. Errors: permission denied".into());
    }
    Ok(Value::Record(Arc::new(Record {
        type_name: "*dependency.Secret",
        fields: vec![
            ("RequestID", Value::str("rid")),
            ("LeaseID", Value::str("")),
            ("LeaseDuration", Value::Int(2764800)),
            ("Renewable", Value::Bool(false)),
            ("Data", data()),
            ("Warnings", Value::NilList),
            ("Auth", Value::NilPtr("*api.SecretAuth")),
            ("WrapInfo", Value::NilPtr("*api.SecretWrapInfo")),
        ],
    })))
}

fn fake_upper(_: &mut CallEnv<'_>, args: &[Value]) -> Result<Value, String> {
    Ok(Value::str(args[0].expect_str()?.to_uppercase()))
}

fn fake_join(_: &mut CallEnv<'_>, args: &[Value]) -> Result<Value, String> {
    let sep = args[0].expect_str()?;
    match &args[1] {
        Value::List(l) => Ok(Value::str(
            l.iter().map(|v| v.print()).collect::<Vec<_>>().join(sep),
        )),
        _ => Err("bad".into()),
    }
}

#[derive(Debug)]
struct Counter(i64);

impl Object for Counter {
    fn type_name(&self) -> &'static str {
        "chan int"
    }
    fn print(&self) -> String {
        "chan".into()
    }
    fn range_items(&self) -> Option<Vec<Value>> {
        Some((0..self.0).map(Value::Int).collect())
    }
}

#[derive(Debug)]
struct Bundle;

impl Object for Bundle {
    fn type_name(&self) -> &'static str {
        "*template.Bundle"
    }
    fn field(&self, name: &str) -> Option<Value> {
        (name == "Cert").then(|| Value::str("CERT"))
    }
    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Data" => Some(Ok(Value::Object(Arc::new(Bundle)))),
            "Get" => Some(match args {
                [Value::String(k)] => Ok(Value::str(format!("got-{k}"))),
                _ => Err(format!(
                    "wrong number of args for Get: want 1 got {}",
                    args.len()
                )),
            }),
            _ => None,
        }
    }
    fn print(&self) -> String {
        "{CERT}".into()
    }
}

fn fake_loop(_: &mut CallEnv<'_>, args: &[Value]) -> Result<Value, String> {
    match args {
        [Value::Int(n)] => Ok(Value::Object(Arc::new(Counter(*n)))),
        _ => Err("bad".into()),
    }
}

fn fake_bundle(_: &mut CallEnv<'_>, _: &[Value]) -> Result<Value, String> {
    Ok(Value::Object(Arc::new(Bundle)))
}

fn fake_fail(_: &mut CallEnv<'_>, _: &[Value]) -> Result<Value, String> {
    Err("it broke".into())
}

fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "secret" => fake_secret,
        "toUpper" => fake_upper,
        "join" => fake_join,
        "loop" => fake_loop,
        "bundle" => fake_bundle,
        "fail" => fake_fail,
        "sprig_upper" => fake_upper,
        _ => return None,
    })
}

fn parse(src: &str, opts: Options) -> Result<Template, TemplateError> {
    Template::parse_with("", src, opts, &lookup)
}

fn run_opts(src: &str, opts: Options) -> Result<String, String> {
    let t = parse(src, opts).map_err(|e| e.to_string())?;
    t.execute(&mut Ctx)
        .map(|r| r.text)
        .map_err(|e| e.to_string())
}

fn run(src: &str) -> String {
    run_opts(src, Options::default()).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn run_err(src: &str) -> String {
    match run_opts(src, Options::default()) {
        Ok(t) => panic!("{src}: expected an error, got {t:?}"),
        Err(e) => e,
    }
}

const W: &str = r#"{{ with secret "x" }}"#;

fn w(body: &str) -> String {
    run(&format!("{W}{body}{{{{ end }}}}"))
}

#[test]
fn text_is_copied_and_dot_is_nil() {
    assert_eq!(run("a\r\n\tb  "), "a\r\n\tb  ");
    assert_eq!(
        run("{{ . }}|{{ $ }}|{{ .Foo }}"),
        "<no value>|<no value>|<no value>"
    );
    assert_eq!(run(""), "");
}

#[test]
fn printing_values() {
    assert_eq!(
        w(
            "{{ .Data.str }}|{{ .Data.int }}|{{ .Data.big }}|{{ .Data.exp }}|{{ .Data.nil }}|{{ .Data.list }}|{{ .Data.emptylist }}|{{ .Data.emptymap }}"
        ),
        "hello world|42|12345678901234567890|1e3|<no value>|[a b 1 true <nil>]|[]|map[]"
    );
    assert_eq!(w("{{ .Data.map }}"), "map[a:1 b:2 z:map[x:<nil> y:[1 2]]]");
    assert_eq!(w("{{ . }}").split(' ').next(), Some("{rid"));
    assert_eq!(
        w("{{ .Auth }} {{ .Warnings }} {{ .LeaseDuration }}"),
        "<nil> [] 2764800"
    );
    assert_eq!(
        run(
            "{{ 1.5 }} {{ 1e3 }} {{ 0x1F }} {{ 'a' }} {{ -3 }} {{ true }} {{ \"s\\tx\" }} {{ `raw\\n` }}"
        ),
        "1.5 1000 31 97 -3 true s\tx raw\\n"
    );
    assert_eq!(run("{{-3}}"), "-3");
}

#[test]
fn missing_keys_and_nil_chains() {
    assert_eq!(w("[{{ .Data.nope }}]"), "[<no value>]");
    let e = run_opts(
        &format!("{W}{{{{ .Data.nope }}}}{{{{ end }}}}"),
        Options {
            missing_key_error: true,
            ..Options::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        e,
        "execute: template: :1:29: executing \"\" at <.Data.nope>: map has no entry for key \"nope\""
    );
    let e = run_err(&format!("{W}{{{{ .Data.nope.deeper }}}}{{{{ end }}}}"));
    assert_eq!(
        e,
        "execute: template: :1:29: executing \"\" at <.Data.nope.deeper>: nil pointer evaluating interface {}.deeper"
    );
    assert!(
        run_err(&format!("{W}{{{{ .Nope }}}}{{{{ end }}}}"))
            .ends_with("can't evaluate field Nope in type *dependency.Secret")
    );
    assert!(
        run_err(&format!(
            "{W}{{{{ with .Data.str }}}}{{{{ .x }}}}{{{{ end }}}}{{{{ end }}}}"
        ))
        .ends_with("can't evaluate field x in type string")
    );
    assert!(
        run_err(&format!("{W}{{{{ .Data.str.x }}}}{{{{ end }}}}"))
            .ends_with("can't evaluate field x in type interface {}")
    );
    assert!(
        run_err(&format!("{W}{{{{ .Auth.ClientToken }}}}{{{{ end }}}}"))
            .ends_with("nil pointer evaluating *api.SecretAuth.ClientToken")
    );
    // A variable holding nil (not boxed) reads as nil; a range element nil is an error.
    assert_eq!(w("{{ $x := .Data.nope }}{{ $x.deeper }}"), "<no value>");
    assert!(
        w_err("{{ range .Data.objs }}{{ .name }}{{ end }}")
            .ends_with("nil pointer evaluating interface {}.name")
    );
    let e = run_opts(
        "{{ .Foo }}",
        Options {
            missing_key_error: true,
            ..Options::default()
        },
    )
    .unwrap_err();
    assert!(e.ends_with("nil data; no entry for key \"Foo\""), "{e}");
}

fn w_err(body: &str) -> String {
    run_err(&format!("{W}{body}{{{{ end }}}}"))
}

#[test]
fn truthiness_and_conditions() {
    assert_eq!(
        w(
            "{{ if .Data.zero }}T{{ else }}F{{ end }}{{ if .Data.nil }}T{{ else }}F{{ end }}{{ if .Data.empty }}T{{ else }}F{{ end }}{{ if .Data.emptylist }}T{{ else }}F{{ end }}{{ if .Data.f }}T{{ else if .Data.t }}E{{ else }}F{{ end }}"
        ),
        "TFFFE"
    );
    assert_eq!(
        w("{{ with .Data.nope }}x{{ else with .Data.str }}{{ . }}{{ else }}z{{ end }}"),
        "hello world"
    );
    assert_eq!(w("{{ with .Data.nope }}x{{ else }}none{{ end }}"), "none");
    assert_eq!(
        run(
            "{{ if and 1 0 }}a{{ end }}{{ and 1 \"x\" }} {{ and 0 (fail) }} {{ or 0 \"\" }} {{ or 0 2 (fail) }} {{ not 0 }} {{ 5 | and 1 }}"
        ),
        "x 0  2 true 5"
    );
}

#[test]
fn variables_and_scopes() {
    assert_eq!(
        run("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ $y }}{{ end }}{{ $x }}"),
        "32"
    );
    assert_eq!(
        run("{{ $x := \"a\" }}{{ with $x := \"b\" }}{{ $x }}{{ end }}{{ $x }}"),
        "ba"
    );
    assert_eq!(run("{{ $x := 1 }}{{ $x }} {{ $x := 2 }}{{ $x }}"), "1 2");
}

#[test]
fn range_forms() {
    assert_eq!(
        w("{{ range $k, $v := .Data.map }}{{ $k }}={{ $v }};{{ end }}"),
        "a=1;b=2;z=map[x:<nil> y:[1 2]];"
    );
    assert_eq!(
        w("{{ range $i, $e := .Data.list }}{{ $i }}:{{ $e }} {{ end }}"),
        "0:a 1:b 2:1 3:true 4:<no value> "
    );
    assert_eq!(
        w("{{ range $e := .Data.list }}{{ $e }}{{ end }}"),
        "ab1true<no value>"
    );
    assert_eq!(
        w(
            "{{ range .Data.emptylist }}x{{ else }}empty{{ end }}{{ range .Data.nope }}x{{ else }}nil{{ end }}"
        ),
        "emptynil"
    );
    assert_eq!(
        run(
            "{{ range 3 }}{{ . }}{{ end }}|{{ range $i := 2 }}{{ $i }}{{ end }}|{{ range 0 }}x{{ else }}e{{ end }}"
        ),
        "012|01|e"
    );
    assert_eq!(
        run(
            "{{ range $i := loop 4 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ $i }}{{ end }}"
        ),
        "02"
    );
    assert!(
        run_err("{{ range $i, $e := 3 }}{{ end }}")
            .ends_with("can't use 3 to iterate over more than one variable")
    );
    assert!(
        w_err("{{ range .Data.str }}{{ end }}")
            .ends_with("range can't iterate over value of type string")
    );
    // An execution error's text goes through Go's fmt once more, upstream and here.
    assert!(
        run_err(r#"{{ index "a%db" 5 }}"#).contains(
            r#"at <index "a%!d(MISSING)b" 5>: error calling index: index out of range: 5"#
        )
    );
    // As `bao agent` 2.7.2 ranges a channel: the receive count, then the element.
    assert_eq!(
        run("{{ range $i, $e := loop 2 }}{{ $i }}:{{ $e }} {{ end }}"),
        "0:0 1:1 "
    );
}

#[test]
fn pipelines_and_chains() {
    assert_eq!(
        w(
            "{{ .Data.str | toUpper }}|{{ .Data.list | join \",\" }}|{{ (secret \"x\").Data.map.a }}|{{ (secret \"x\").Data.map.z.y }}"
        ),
        "HELLO WORLD|a,b,1,true,<nil>|1|[1 2]"
    );
    assert_eq!(
        run("{{ \"a\"\n  | toUpper }}{{ (secret\n\"x\").Data.list | len }}"),
        "A5"
    );
    assert!(
        run_err("{{ secret \"x\" | len }}")
            .ends_with("error calling len: len of type dependency.Secret")
    );
    assert_eq!(
        run(
            "{{ bundle.Cert }} {{ bundle.Data.Cert }} {{ (bundle).Get \"k\" }} {{ bundle }} {{ $b := bundle }}{{ $b.Data.Get \"z\" }}"
        ),
        "CERT CERT got-k {CERT} got-z"
    );
    assert!(run_err("{{ bundle.Get }}").ends_with("wrong number of args for Get: want 1 got 0"));
    assert_eq!(run("{{ \"q\" | bundle.Get }}"), "got-q");
    assert!(
        run_err("{{ bundle.Cert 1 }}")
            .ends_with("Cert has arguments but cannot be invoked as function")
    );
    assert!(w_err("{{ .Data.str 1 }}").ends_with("str is not a method but has arguments"));
    assert!(
        run_err("{{ bundle.Nope }}")
            .ends_with("can't evaluate field Nope in type *template.Bundle")
    );
    assert!(run_err("{{ 1 2 }}").ends_with("can't give argument to non-function 1"));
    assert!(run_err("{{ nil }}").ends_with("nil is not a command"));
    assert!(run_err("{{ 18446744073709551615 }}").ends_with("18446744073709551615 overflows int"));
    assert_eq!(
        run_err("{{ 99999999999999999999 }}"),
        "parse: template: :1: integer overflow: \"99999999999999999999\""
    );
    assert!(run_err("{{ (1).a }}").starts_with(
        "execute: template: :1:4: executing \"\" at <1>: can't evaluate field a in type int"
    ));
}

#[test]
fn comparisons_in_templates() {
    assert_eq!(
        w(
            "{{ eq .Data.port \"5432\" }} {{ eq .Data.int \"42\" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1 2 }} {{ eq 1 2 1 }} {{ eq .Data.nope \"x\" }}"
        ),
        "true true true true true true false true false"
    );
    assert_eq!(
        w_err("{{ gt .Data.port 10 }}"),
        "execute: template: :1:24: executing \"\" at <gt .Data.port 10>: error calling gt: incompatible types for comparison: string and int"
    );
    assert!(
        w_err("{{ lt true false }}").ends_with("error calling lt: invalid type for comparison")
    );
}

#[test]
fn builtins_through_the_engine() {
    assert_eq!(
        w(
            "{{ len .Data.list }} {{ len .Data.str }} {{ index .Data.list 1 }} {{ index .Data \"space key\" }} {{ index .Data.map \"z\" \"y\" 1 }} {{ slice .Data.str 0 5 }} {{ index .Data \"nope\" }}"
        ),
        "5 11 b v 2 hello <no value>"
    );
    assert_eq!(
        w(
            "{{ printf \"%d\" .Data.int }} {{ printf \"%s-%v\" .Data.str .Data.t }} {{ print 1 2 \"a\" 3 }} {{ println \"x\" }}"
        ),
        "%!d(json.Number=42) hello world-true 1 2a3 x\n"
    );
    assert_eq!(
        run(
            "{{ html \"<a&b>\" }} {{ js \"it's\" }} {{ urlquery \"a b\" }} {{ printf \"%T %T %T\" 1 1.5 nil }}"
        ),
        "&lt;a&amp;b&gt; it\\'s a+b int float64 <nil>"
    );
    assert!(
        w_err("{{ index .Data.list 9 }}").ends_with("error calling index: index out of range: 9")
    );
    assert!(run_err("{{ len 3 }}").ends_with("error calling len: len of type int"));
    assert!(run_err("{{ not 1 2 }}").ends_with("wrong number of args for not: want 1 got 2"));
    assert!(run_err("{{ eq }}").ends_with("wrong number of args for eq: want at least 1 got 0"));
    assert!(run_err("{{ printf 1 }}").ends_with("at <1>: expected string; found 1"));
    assert!(
        w_err("{{ printf .Data.int }}")
            .ends_with("at <.Data.int>: wrong type for value; expected string; got json.Number")
    );
    assert!(run_err("{{ printf nil }}").ends_with("cannot assign nil to string"));
    assert!(run_err("{{ call 1 }}").ends_with("error calling call: non-function of type int"));
}

#[test]
fn function_errors_and_denylist() {
    let e = run_err("{{ secret \"boom\" }}");
    assert_eq!(
        e,
        "execute: template: :1:3: executing \"\" at <secret \"boom\">: error calling secret: Code: 403. Errors: permission denied"
    );
    let e = run_err("x\n  {{ secret \"x\" \"a\" }}");
    assert_eq!(
        e,
        "execute: template: :2:5: executing \"\" at <secret>: wrong number of args for secret: want 1 got 2"
    );
    let e = run_err("{{ secret 1 }}");
    assert!(
        e.ends_with("wrong type for value; expected string; got int"),
        "{e}"
    );
    let long = run_err("{{ fail \"aaaaaaaaaaaaaaaaaaaaaaaaa\" }}");
    assert!(
        long.contains("at <fail \"aaaaaaaaaaaaaaaaaaaaaaaaa\">: error calling fail: it broke"),
        "{long}"
    );
    let opts = Options {
        denylist: vec!["sprig_*".into(), "toUpper".into()],
        ..Options::default()
    };
    let e = run_opts("{{ sprig_upper \"a\" }}", opts.clone()).unwrap_err();
    assert!(
        e.ends_with("error calling sprig_upper: function is disabled"),
        "{e}"
    );
    assert!(
        run_opts("{{ \"a\" | toUpper }}", opts.clone())
            .unwrap_err()
            .ends_with("error calling toUpper: function is disabled")
    );
    assert_eq!(run_opts("{{ len \"ab\" }}", opts).unwrap(), "2");
    assert_eq!(
        parse("{{ nope }}", Options::default())
            .unwrap_err()
            .to_string(),
        "parse: template: :1: function \"nope\" not defined"
    );
}

#[test]
fn define_template_block_execute_template() {
    assert_eq!(
        run(
            "{{ define \"a\" }}[{{ . }}]{{ end }}{{ template \"a\" 1 }}{{ template \"a\" }}{{ block \"b\" \"x\" }}<{{ . }}>{{ end }}"
        ),
        "[1][<no value>]<x>"
    );
    assert_eq!(
        run(
            "{{ define \"a\" }}A{{ . }}{{ end }}{{ executeTemplate \"a\" }}|{{ executeTemplate \"a\" 2 | len }}"
        ),
        "A<no value>|2"
    );
    assert!(run_err("{{ template \"zz\" }}").ends_with("template \"zz\" not defined"));
    assert!(run_err("{{ executeTemplate \"zz\" }}").ends_with(
        "error calling executeTemplate: template: no template \"zz\" associated with template \"\""
    ));
    let e = run_err("{{ define \"a\" }}{{ .x.y }}{{ end }}{{ template \"a\" secret \"x\" }}");
    assert!(e.contains("executing \"a\" at <.x.y>"), "{e}");
    assert!(
        on_agent_stack(|| run_err(
            "{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}"
        ))
        .ends_with("exceeded maximum template depth (1000)")
    );
    // Variables do not leak into templates.
    assert!(
        parse(
            "{{ define \"a\" }}{{ $x }}{{ end }}{{ $x := 1 }}",
            Options::default()
        )
        .is_err()
    );
}

#[test]
fn trim_comments_delimiters() {
    assert_eq!(
        run(
            "a\n  {{- \"b\" }}\n  {{ \"c\" -}}\n  d {{/* comment */}} e {{- /* trimmed comment */ -}} f\n"
        ),
        "ab\n  cd  ef\n"
    );
    let opts = Options {
        left: "[[".into(),
        right: "]]".into(),
        ..Options::default()
    };
    assert_eq!(
        run_opts(
            "[[ with secret \"x\" ]]{{ not a template }} [[- .Data.str -]] x[[ end ]]",
            opts
        )
        .unwrap(),
        "{{ not a template }}hello worldx"
    );
}

#[test]
fn dependencies_are_recorded() {
    let t = parse(
        "{{ with secret \"missing\" }}{{ .Data }}{{ end }}{{ with secret \"x\" }}ok{{ end }}",
        Options::default(),
    )
    .unwrap();
    let r = t.execute(&mut Ctx).unwrap();
    assert_eq!(r.text, "ok");
    assert_eq!(
        r.used,
        vec![
            Dependency::Read {
                path: "missing".into()
            },
            Dependency::Read { path: "x".into() }
        ]
    );
    assert_eq!(
        r.missing,
        vec![Dependency::Read {
            path: "missing".into()
        }]
    );
    // A failure keeps what was recorded before it.
    let opts = Options {
        missing_key_error: true,
        ..Options::default()
    };
    let t2 = parse("{{ $s := secret \"missing\" }}{{ $s.Data }}", opts).unwrap();
    let f = t2.try_execute(&mut Ctx).unwrap_err();
    assert!(
        f.error
            .to_string()
            .ends_with("nil data; no entry for key \"Data\""),
        "{}",
        f.error
    );
    assert_eq!(
        f.missing,
        vec![Dependency::Read {
            path: "missing".into()
        }]
    );
    // Executing twice gives the same result: the template is immutable.
    assert_eq!(t.execute(&mut Ctx).unwrap().text, "ok");
}

#[test]
fn templates_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Template>();
}

#[test]
fn no_panic_on_any_prefix_of_tricky_templates() {
    let sources = [
        "a {{- with secret \"x\" -}} {{ range $i, $e := .Data.list }}{{ $i }}{{ else }}e{{ end }}{{ end }}",
        "{{ define \"t\" }}{{ (index . 0).x | printf \"%5.2q\" }}{{ end }}{{ block \"b\" 'é' }}{{ template \"t\" }}{{ end }}",
        "{{/* c */}}{{ $x := 0x_1F }}{{ $x = `r` }}{{ if and (eq 1 1) (not false) }}ü{{ else if 1.5e3 }}{{ end }}",
        "[[ .a ]] {{ \"\\u00e9\\x41\" }} {{ 'x' }} {{ nil }} {{ .. }} {{ ( }} {{ ) }} {{ | }} {{ := }}",
    ];
    for src in sources {
        for (i, _) in src.char_indices() {
            let prefix = &src[..i];
            if let Ok(t) = parse(prefix, Options::default()) {
                let _ = t.execute(&mut Ctx);
            }
        }
    }
}

#[test]
fn deep_template_recursion_is_an_error_not_a_crash() {
    let e = on_agent_stack(|| {
        run_err("{{ define \"r\" }}x{{ executeTemplate \"r\" }}{{ end }}{{ template \"r\" }}")
    });
    assert!(e.contains("exceeded maximum template depth"), "{e}");
}

/// Runs `f` on a thread with the agent's stack: templates execute on its main thread (a
/// current-thread runtime), whose stack is the kernel's default 8 MiB (`ulimit -s`). A stack
/// overflow aborts the whole test binary, so passing means the bound fits.
fn on_agent_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn deepest_recursion_fits_the_agents_stack() {
    // Each shape recurses until the depth bound stops it; the heaviest frames per level are
    // `executeTemplate` inside parentheses inside control structures.
    let shapes = [
        r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" }}"#,
        r#"{{ define "r" }}{{ executeTemplate "r" }}{{ end }}{{ template "r" }}"#,
        r#"{{ define "r" }}{{ if true }}{{ with 1 }}{{ range 1 }}{{ (((executeTemplate "r" .) | len) | printf "%v") }}{{ end }}{{ end }}{{ end }}{{ end }}{{ template "r" }}"#,
        r#"{{ define "r" }}{{ $x := (executeTemplate "r" (printf "%d" 1)) }}{{ end }}{{ template "r" }}"#,
    ];
    for src in shapes {
        let e = on_agent_stack(move || run_err(src));
        assert!(
            e.ends_with(&format!(
                "exceeded maximum template depth ({})",
                crate::exec::MAX_DEPTH
            )),
            "{src}: {e}"
        );
    }
}

#[test]
fn output_is_capped() {
    // 2^27 bytes through doubling: stopped at the cap (64 MiB), whichever way it grows.
    let doubling =
        r#"{{ $s := "xxxxxxxxxxxxxxxx" }}{{ range 40 }}{{ $s = printf "%s%s" $s $s }}{{ end }}"#;
    let e = run_err(doubling);
    assert!(
        e.ends_with("error calling printf: result exceeds the limit of 67108864 bytes"),
        "{e}"
    );
    let written = r#"{{ $s := printf "%1000000d" 1 }}{{ range 100 }}{{ $s }}{{ end }}"#;
    let e = run_err(written);
    assert!(
        e.ends_with("output exceeds the limit of 67108864 bytes"),
        "{e}"
    );
    // Just under the cap is fine.
    let t = run(r#"{{ $s := printf "%1000000d" 1 }}{{ range 64 }}{{ $s }}{{ end }}"#);
    assert_eq!(t.len(), 64_000_000);
}

#[test]
fn range_iterations_are_capped() {
    let e = run_err("{{ range 1000000000000 }}{{ end }}");
    assert!(e.ends_with("range: more than 10000000 iterations"), "{e}");
    // Nested ranges count together.
    let e = run_err("{{ range 5000 }}{{ range 5000 }}{{ end }}{{ end }}");
    assert!(e.ends_with("range: more than 10000000 iterations"), "{e}");
    assert_eq!(run("{{ range 3 }}{{ . }}{{ end }}"), "012");
}

#[test]
fn nested_values_are_capped() {
    // Built with the real functions: `sprig_list` wraps, `sprig_list $l $l` shares (a DAG, walked once).
    fn t(src: &str) -> Result<String, String> {
        Template::parse("", src, Options::default())
            .unwrap()
            .execute(&mut Ctx)
            .map(|r| r.text)
            .map_err(|e| e.to_string())
    }
    let e = on_agent_stack(|| {
        t("{{ $l := sprig_list }}{{ range 100000 }}{{ $l = sprig_list $l }}{{ end }}{{ $l }}")
    })
    .unwrap_err();
    assert!(
        e.ends_with("error calling sprig_list: result nests deeper than 512 levels"),
        "{e}"
    );
    let e = on_agent_stack(|| {
        t("{{ $l := sprig_list }}{{ range 1000 }}{{ $l = sprig_list $l $l }}{{ end }}")
    })
    .unwrap_err();
    assert!(
        e.ends_with("error calling sprig_list: result nests deeper than 512 levels"),
        "{e}"
    );
    let ok = t("{{ $l := sprig_list }}{{ range 3 }}{{ $l = sprig_list $l $l }}{{ end }}{{ $l }}")
        .unwrap();
    assert_eq!(ok, "[[[[] []] [[] []]] [[[] []] [[] []]]]");
}

#[test]
fn strings_of_any_bytes_reach_the_output_byte_for_byte() {
    let t = Template::parse(
        "",
        r#"{{ define "b" }}{{ "/4D+" | base64Decode }}{{ end }}a{{ "/4D+AGFi" | base64Decode }}z|{{ $b := "/4D+" | base64Decode }}{{ $b }}|{{ len $b }}|{{ eq $b ("/4D/" | base64Decode) }}|{{ printf "%T" $b }}|{{ executeTemplate "b" | base64Encode }}|{{ template "b" }}"#,
        Options::default(),
    )
    .unwrap();
    let r = t.execute(&mut Ctx).unwrap();
    let want = b"a\xff\x80\xfe\x00abz|\xff\x80\xfe|3|false|string|/4D+|\xff\x80\xfe".to_vec();
    assert_eq!(r.bytes(), want.as_slice());
    assert_eq!(r.text, String::from_utf8_lossy(&want));
    // Valid output has no separate bytes.
    let r = Template::parse("", "{{ \"aGk=\" | base64Decode }}", Options::default())
        .unwrap()
        .execute(&mut Ctx)
        .unwrap();
    assert!(r.binary.is_none());
    assert_eq!(r.bytes(), b"hi");
}

#[test]
fn byte_literals_lists_and_escapers_keep_bad_bytes() {
    let t = Template::parse(
        "",
        r#"{{ "\xff\x80" }}|{{ "\xff" | len }}|{{ sprig_list ("/4D+" | base64Decode) 1 }}|{{ split "," "a,\xfe" }}|{{ html "<\xff" }}|{{ js "'\xff" }}|{{ urlquery "\xff" }}|{{ printf "%q" "\xe2\x82" }}"#,
        Options::default(),
    )
    .unwrap();
    let r = t.execute(&mut Ctx).unwrap();
    assert_eq!(
        r.bytes(),
        b"\xff\x80|1|[\xff\x80\xfe 1]|[a \xfe]|&lt;\xff|\\'\xff|%FF|\"\\xe2\\x82\""
    );
}

#[test]
fn map_keys_that_are_not_utf8_keep_their_bytes() {
    let t = Template::parse(
        "",
        r#"{{ $d := sprig_dict "\xff" 1 "\ufffd" 2 "a" 3 }}{{ range $k, $v := $d }}{{ $k }}={{ $v }};{{ end }}|{{ len $d }}|{{ $d }}|{{ printf "%#v" $d }}|{{ index $d "\xff" }}{{ index $d "\ufffd" }}|{{ range sprig_keys (sprig_dict "\xfe" 0) }}{{ . }}{{ end }}|{{ sprig_set $d "\xff" 9 }}"#,
        Options::default(),
    )
    .unwrap();
    let r = t.execute(&mut Ctx).unwrap();
    // Two keys, in byte order: U+FFFD (ef bf bd) before the byte ff.
    let mut want = Vec::new();
    want.extend_from_slice("a=3;\u{fffd}=2;".as_bytes());
    want.extend_from_slice(b"\xff=1;|3|map[a:3 ");
    want.extend_from_slice("\u{fffd}:2 ".as_bytes());
    want.extend_from_slice(b"\xff:1]|map[string]interface {}{\"a\":3, ");
    want.extend_from_slice("\"\u{fffd}\":2, ".as_bytes());
    want.extend_from_slice(b"\"\\xff\":1}|12|\xfe|map[a:3 ");
    want.extend_from_slice("\u{fffd}:2 ".as_bytes());
    want.extend_from_slice(b"\xff:9]");
    assert_eq!(r.bytes(), want.as_slice());
}

#[test]
fn an_argument_that_does_not_fit_is_reported_where_go_s_state_was() {
    let err = |src: &str| {
        Template::parse("", src, Options::default())
            .unwrap()
            .execute(&mut Ctx)
            .unwrap_err()
            .to_string()
    };
    // The failing argument's own node, or the last node its evaluation visited.
    assert!(
        err(r#"{{ split (printf "%s" ",") .nope }}"#)
            .ends_with(r#":1:27: executing "" at <.nope>: invalid value; expected string"#)
    );
    // A piped value: the last node of the last argument, else the function's name.
    assert!(
        err(r#"{{ .nope | split (printf "%s" ",") }}"#)
            .ends_with(r#":1:30: executing "" at <",">: invalid value; expected string"#)
    );
    assert!(
        err("{{ .nope | toUpper }}")
            .ends_with(r#":1:11: executing "" at <toUpper>: invalid value; expected string"#)
    );
}

#[test]
fn len_of_nil_depends_on_how_go_met_it() {
    // A field gives Go a nil interface; a variable, `index` or a pipeline the zero reflect.Value.
    assert!(w_err("{{ len .Data.nope }}").ends_with("error calling len: len of nil pointer"));
    for t in [
        "{{ $x := .Data.nope }}{{ len $x }}",
        "{{ len (index .Data \"nope\") }}",
    ] {
        assert!(
            w_err(t)
                .ends_with("error calling len: reflect: call of reflect.Value.Type on zero Value"),
            "{t}"
        );
    }
}
