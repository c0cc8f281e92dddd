//! The template engine end to end: the worked examples of agent.md §9 and the project's
//! conformance cases (`tests/data/conformance/`), rendered against in-memory Vault responses
//! shaped as the server sends them, byte-compared with the expected output.
//!
//! Templates are parsed with [`Template::parse`], exactly as the runtime does, so `secret`,
//! `secrets` and the helpers are consul-template's functions from `vaultlet_template::funcs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use vaultlet_shared::vault::Secret;
use vaultlet_template::{Context, Dependency, Fetched, Options, Template};

fn trim_path(p: &str) -> String {
    p.trim_matches(|c| c == ' ' || c == '/').to_string()
}

/// In-memory Vault: responses by path (reads and writes alike), lists by path.
#[derive(Default)]
struct Vault {
    secrets: HashMap<String, Arc<Secret>>,
    lists: HashMap<String, Vec<String>>,
}

impl Vault {
    fn kv2(&mut self, path: &str, data: &str) -> &mut Self {
        let body = format!(
            r#"{{"request_id":"rid-{path}","lease_id":"","renewable":false,"lease_duration":0,"data":{{"data":{data},"metadata":{{"created_time":"2026-11-22T10:48:29.094194076Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":1}}}},"wrap_info":null,"warnings":null,"auth":null}}"#
        );
        self.raw(path, &body)
    }

    fn kv1(&mut self, path: &str, data: &str) -> &mut Self {
        let body = format!(
            r#"{{"request_id":"rid-{path}","lease_id":"","renewable":false,"lease_duration":2764800,"data":{data},"wrap_info":null,"warnings":null,"auth":null}}"#
        );
        self.raw(path, &body)
    }

    fn raw(&mut self, path: &str, body: &str) -> &mut Self {
        let s = Secret::from_json(body.as_bytes()).unwrap_or_else(|e| panic!("{path}: {e}"));
        self.secrets.insert(trim_path(path), Arc::new(s));
        self
    }
}

impl Context for Vault {
    fn fetch(&mut self, dep: &Dependency) -> Option<Result<Fetched, String>> {
        match dep {
            Dependency::Read { path } | Dependency::Write { path, .. } => self
                .secrets
                .get(path)
                .map(|s| Ok(Fetched::Secret(Some(s.clone())))),
            Dependency::List { path } => self.lists.get(path).map(|l| Ok(Fetched::List(l.clone()))),
            _ => None,
        }
    }
    fn env(&self, _name: &str) -> Option<String> {
        None
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000)
    }
    fn real_path(&self, _path: &Path) -> Option<PathBuf> {
        None
    }
}

enum Outcome {
    Text(String),
    Error(String),
}

fn render(vault: &mut Vault, src: &str, opts: Options) -> Outcome {
    let t = match Template::parse("", src, opts) {
        Ok(t) => t,
        Err(e) => return Outcome::Error(e.to_string()),
    };
    match t.execute(vault) {
        Ok(r) => {
            assert!(r.missing.is_empty(), "{src}: missing {:?}", r.missing);
            Outcome::Text(r.text)
        }
        Err(e) => Outcome::Error(e.to_string()),
    }
}

/// The fixtures of agent.md §9 (F1–F8), as Vault answers them.
fn section9_vault() -> Vault {
    let mut v = Vault::default();
    v.raw(
        "secret/data/web",
        r#"{"request_id":"903e","lease_id":"","renewable":false,"lease_duration":0,"data":{"data":{"password":"p@ss&<1>","username":"app"},"metadata":{"created_time":"2026-11-22T10:48:29.094194076Z","custom_metadata":{"env":"prod","owner":"team-a"},"deletion_time":"","destroyed":false,"version":1}},"wrap_info":null,"warnings":null,"auth":null}"#,
    );
    v.kv1("kv1/web", r#"{"password":"p@ss&<1>","username":"app"}"#);
    let cfg = r#"{"db":{"host":"db.internal","port":5432,"opts":{"ssl":true,"timeout":"5s"},"replicas":["r1","r2"]},"feature_flags":[],"ratio":0.75,"note":null}"#;
    v.kv1("kv1/cfg", cfg);
    v.kv2("secret/data/cfg", cfg);
    v.kv1(
        "kv1/nested",
        r#"{"str":"hello world","int":42,"float":3.14,"big":12345678901234567890,"exp":1e3,"neg":-7,"bool_t":true,"bool_f":false,"nil":null,"empty":"","list":["a","b",1,true,null],"emptylist":[],"emptymap":{},"map":{"b":"2","a":"1","z":{"y":[1,2],"x":null}},"multi":"line1\nline2","space key":"v","Upper":"U"}"#,
    );
    v.kv2(
        "secret/data/consul/gossip",
        r#"{"gossip":"Z2Vvc3NpcGtleWJhc2U2NGVuY29kZWQxMjM0NTY3OA=="}"#,
    );
    v.kv2(
        "secret/data/consul/bootstrap-token",
        r#"{"token":"2f4c5a3e-1111-2222-3333-444455556666"}"#,
    );
    v.raw(
        "pki_int/issue/consul-server",
        r#"{"request_id":"p","lease_id":"","renewable":false,"lease_duration":0,"data":{"certificate":"<LEAF>","private_key":"<KEY>","private_key_type":"rsa","issuing_ca":"<INT>","ca_chain":["<INT>","<ROOT>"],"serial_number":"57:14","expiration":1795000000},"wrap_info":null,"warnings":null,"auth":null}"#,
    );
    v.raw(
        "pki_int/cert/ca",
        r#"{"request_id":"c","lease_id":"","renewable":false,"lease_duration":0,"data":{"certificate":"<INT>","revocation_time":0},"wrap_info":null,"warnings":null,"auth":null}"#,
    );
    v.kv1(
        "kv1/nums",
        r#"{"zero":0,"n":42,"f":0.0,"t":true,"nul":null}"#,
    );
    v.raw(
        "database/creds/app",
        r#"{"request_id":"d","lease_id":"database/creds/app/AbC123","renewable":true,"lease_duration":3600,"data":{"username":"v-kubernetes-app-x1","password":"A1a-Zz9"},"wrap_info":null,"warnings":null,"auth":null}"#,
    );
    v.lists.insert(
        "secret".into(),
        vec!["cfg".into(), "consul/".into(), "web".into()],
    );
    v.lists.insert(
        "kv1".into(),
        vec!["cfg".into(), "nested".into(), "nums".into(), "web".into()],
    );
    v
}

const MAP_TMPL: &str =
    "{{ with secret \"PATH\" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}";

/// (id, template, expected output) — agent.md §9.
fn section9() -> Vec<(&'static str, String, String)> {
    let map = |p: &str| MAP_TMPL.replace("PATH", p);
    let e = |id: &'static str, t: &str, o: &str| (id, t.to_string(), o.to_string());
    vec![
        ("E1", map("secret/data/web"), "data: map[password:p@ss&<1> username:app]\nmetadata: map[created_time:2026-11-22T10:48:29.094194076Z custom_metadata:map[env:prod owner:team-a] deletion_time: destroyed:false version:1]\n".into()),
        ("E2", map("kv1/web"), "password: p@ss&<1>\nusername: app\n".into()),
        ("E3", map("kv1/cfg"), "db: map[host:db.internal opts:map[ssl:true timeout:5s] port:5432 replicas:[r1 r2]]\nfeature_flags: []\nnote: <no value>\nratio: 0.75\n".into()),
        ("E4", map("kv1/nested"), "Upper: U\nbig: 12345678901234567890\nbool_f: false\nbool_t: true\nempty: \nemptylist: []\nemptymap: map[]\nexp: 1e3\nfloat: 3.14\nint: 42\nlist: [a b 1 true <nil>]\nmap: map[a:1 b:2 z:map[x:<nil> y:[1 2]]]\nmulti: line1\nline2\nneg: -7\nnil: <no value>\nspace key: v\nstr: hello world\n".into()),
        e("E5", "{{ with secret \"secret/data/web\" }}{{ .Data | toJSON }}\n{{ end }}", "{\"data\":{\"password\":\"p@ss\\u0026\\u003c1\\u003e\",\"username\":\"app\"},\"metadata\":{\"created_time\":\"2026-11-22T10:48:29.094194076Z\",\"custom_metadata\":{\"env\":\"prod\",\"owner\":\"team-a\"},\"deletion_time\":\"\",\"destroyed\":false,\"version\":1}}\n"),
        e("E6", "{{ with secret \"kv1/cfg\" }}{{ .Data | toJSON }}\n{{ end }}", "{\"db\":{\"host\":\"db.internal\",\"opts\":{\"ssl\":true,\"timeout\":\"5s\"},\"port\":5432,\"replicas\":[\"r1\",\"r2\"]},\"feature_flags\":[],\"note\":null,\"ratio\":0.75}\n"),
        e("E7", "{{- with secret \"secret/data/web\" -}}\nusername={{ .Data.data.username }}\npassword={{ .Data.data.password }}\n{{- end }}\n", "username=app\npassword=p@ss&<1>\n"),
        e("E8", "{{ with secret \"secret/data/web\" }}{{ range $k, $v := .Data.data }}export {{ $k | toUpper }}=\"{{ $v }}\"\n{{ end }}{{ end }}", "export PASSWORD=\"p@ss&<1>\"\nexport USERNAME=\"app\"\n"),
        e("E9", "{{ with secret \"secret/data/web\" }}[{{ .Data.data.missing }}]{{ end }}", "[<no value>]"),
        e("E10", "{{ with secret \"secret/data/web\" }}{{ if .Data.data.missing }}set{{ else }}unset{{ end }} {{ with .Data.data.username }}user={{ . }}{{ end }}{{ end }}", "unset user=app"),
        e("E11", "{{ with secret \"kv1/cfg\" }}host={{ .Data.db.host }} port={{ .Data.db.port }} ssl={{ .Data.db.opts.ssl }} first={{ index .Data.db.replicas 0 }} n={{ len .Data.db.replicas }} note={{ .Data.note }} ratio={{ .Data.ratio }}{{ end }}", "host=db.internal port=5432 ssl=true first=r1 n=2 note=<no value> ratio=0.75"),
        e("E12", "{{ with secret \"secret/data/cfg\" }}{{ .Data.data | toJSONPretty }}{{ end }}\n", "{\n  \"db\": {\n    \"host\": \"db.internal\",\n    \"opts\": {\n      \"ssl\": true,\n      \"timeout\": \"5s\"\n    },\n    \"port\": 5432,\n    \"replicas\": [\n      \"r1\",\n      \"r2\"\n    ]\n  },\n  \"feature_flags\": [],\n  \"note\": null,\n  \"ratio\": 0.75\n}\n"),
        e("E13", "{{ with secret \"kv1/cfg\" }}{{ .Data | toYAML }}{{ end }}\n", "db:\n  host: db.internal\n  opts:\n    ssl: true\n    timeout: 5s\n  port: 5432\n  replicas:\n  - r1\n  - r2\nfeature_flags: []\nnote: null\nratio: 0.75\n"),
        e("E14", "{{ with secret \"kv1/web\" }}{{ .Data.password | base64Encode }}|{{ printf \"%s:%s\" .Data.username .Data.password | base64Encode }}{{ end }}", "cEBzcyY8MT4=|YXBwOnBAc3MmPDE+"),
        e("E15", "{{ with secret \"secret/data/web\" }}{{ .Data.metadata.custom_metadata.owner }} v{{ .Data.metadata.version }} {{ .Data.metadata.custom_metadata }}{{ end }}", "team-a v1 map[env:prod owner:team-a]"),
        e("E16", "{{ with secret \"kv1/cfg\" }}{{ .Data.db }}\n{{ .Data.db.replicas }}\n{{ .Data.feature_flags }}{{ end }}", "map[host:db.internal opts:map[ssl:true timeout:5s] port:5432 replicas:[r1 r2]]\n[r1 r2]\n[]"),
        e("E17", "{{ with secret \"kv1/web\" }}lease_id=\"{{ .LeaseID }}\" ttl={{ .LeaseDuration }} renewable={{ .Renewable }} warnings={{ .Warnings }}{{ end }}|{{ with secret \"kv1/web\" }}{{ . }}{{ end }}", "lease_id=\"\" ttl=2764800 renewable=false warnings=[]|{rid-kv1/web  2764800 false map[password:p@ss&<1> username:app] [] <nil> <nil>}"),
        e("E18", "{{ range secrets \"secret/\" }}{{ . }},{{ end }}|{{ secrets \"kv1/\" | toJSON }}", "cfg,consul/,web,|[\"cfg\",\"nested\",\"nums\",\"web\"]"),
        e("E19", "{{- with secret \"secret/data/consul/gossip\" -}}\n{{- .Data.data.gossip -}}\n{{- end -}}", "Z2Vvc3NpcGtleWJhc2U2NGVuY29kZWQxMjM0NTY3OA=="),
        e("E20", "{{- with secret \"secret/data/consul/bootstrap-token\" -}}\nacl { tokens { initial_management = \"{{- .Data.data.token -}}\" }}\n{{- end -}}", "acl { tokens { initial_management = \"2f4c5a3e-1111-2222-3333-444455556666\" }}"),
        e("E21", "{{- with secret \"pki_int/issue/consul-server\" \"common_name=server.dc1.consul\"\n\"alt_names=localhost,consul-server,*.consul-server,*.server.dc1.consul\" \"ip_sans=127.0.0.1\" -}}\n{{- .Data.certificate -}}\n{{- if .Data.ca_chain -}}\n{{- $lastintermediatecertindex := len .Data.ca_chain | subtract 1 -}}\n{{ range $index, $cacert := .Data.ca_chain }}\n{{ if (lt $index $lastintermediatecertindex) }}\n{{ $cacert }}\n{{ end }}\n{{ end }}\n{{- end -}}\n{{- end -}}", "<LEAF>\n\n<INT>\n\n\n\n"),
        e("E22", "{{- with secret \"pki_int/issue/consul-server\" \"common_name=server.dc1.consul\"\n\"alt_names=localhost\" -}}\n{{- .Data.private_key -}}\n{{- end -}}", "<KEY>"),
        e("E23", "{{- with secret \"pki_int/cert/ca\" -}}\n{{- .Data.certificate -}}\n{{- end -}}", "<INT>"),
        ("E25", map("database/creds/app"), "password: A1a-Zz9\nusername: v-kubernetes-app-x1\n".into()),
        e("E26", "{{ with secret \"database/creds/app\" }}{{ .LeaseID }} {{ .LeaseDuration }} {{ .Renewable }}{{ end }}", "database/creds/app/AbC123 3600 true"),
        e("E28", "a\n  {{- \"b\" }}\n  {{ \"c\" -}}\n  d {{/* comment */}} e {{- /* trimmed comment */ -}} f\n", "ab\n  cd  ef\n"),
        e("E29a", "{{ with secret \"kv1/nums\" }}{{ if .Data.zero }}zero-truthy{{ else }}zero-falsy{{ end }} {{ if .Data.f }}f-truthy{{ end }} {{ if .Data.nul }}nul-truthy{{ else }}nul-falsy{{ end }} {{ eq .Data.n \"42\" }} {{ printf \"%d\" .Data.n }} {{ printf \"%T\" .Data.t }}{{ end }}", "zero-truthy f-truthy nul-falsy true %!d(json.Number=42) bool"),
        e("E29", "{{ with secret \"kv1/nums\" }}{{ if .Data.zero }}zero-truthy{{ else }}zero-falsy{{ end }} {{ if .Data.f }}f-truthy{{ end }} {{ if .Data.nul }}nul-truthy{{ else }}nul-falsy{{ end }} {{ eq .Data.n \"42\" }} {{ printf \"%d\" .Data.n }} {{ .Data.n | print | parseInt | add 1 }} {{ printf \"%T\" .Data.t }}{{ end }}", "zero-truthy f-truthy nul-falsy true %!d(json.Number=42) 43 bool"),
        e("E30", "{{ with secret \"kv1/web\" }}{{ .Data.password | replaceAll \"&\" \"and\" | trimSpace }} {{ .Data.username | toTitle }}{{ end }}|{{ \"a,b,c\" | split \",\" | join \";\" }}|{{ \"x\" | contains \"x\" }}|{{ \"hello\" | regexReplaceAll \"l+\" \"L\" }}|{{ \"abc\" | sprig_upper }} {{ sprig_default \"dflt\" \"\" }}|{{ parseJSON \"{\\\"a\\\":[1,2]}\" | toJSON }}|{{ add 1 2 }} {{ multiply 2 3 }}", "p@ssand<1> App|a;b;c|true|heLo|ABC dflt|{\"a\":[1,2]}|3 6"),
        e("E32", "{{ parseJSON \"[123456,1234567,0.0001,0.00001,1.5e300,-0.5,100,1.0,2.50,1e21,1e20]\" }}|{{ parseJSON \"[123456,1234567,0.0001,0.00001,1.5e300,-0.5,100,1.0,2.50,1e21,1e20]\" | toJSON }}", "[123456 1.234567e+06 0.0001 1e-05 1.5e+300 -0.5 100 1 2.5 1e+21 1e+20]|[123456,1234567,0.0001,0.00001,1.5e+300,-0.5,100,1,2.5,1e+21,100000000000000000000]"),
    ]
}

#[test]
fn section9_worked_examples() {
    let mut vault = section9_vault();
    let mut failures = Vec::new();
    let examples = section9();
    assert!(examples.len() >= 30);
    for (id, tmpl, want) in examples {
        match render(&mut vault, &tmpl, Options::default()) {
            Outcome::Text(got) if got == want => {}
            Outcome::Text(got) => failures.push(format!("{id}: got {got:?}\n     want {want:?}")),
            Outcome::Error(e) => failures.push(format!("{id}: error {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn e27_custom_delimiters() {
    let mut vault = section9_vault();
    let opts = Options {
        left: "[[".into(),
        right: "]]".into(),
        ..Options::default()
    };
    let src = "[[ with secret \"secret/data/web\" ]]{{ not a template }} [[ .Data.data.username ]][[ end ]]";
    match render(&mut vault, src, opts) {
        Outcome::Text(t) => assert_eq!(t, "{{ not a template }} app"),
        _ => panic!("E27 failed"),
    }
}

#[test]
fn e9_e31_errors_name_the_action_and_never_the_secret() {
    let mut vault = section9_vault();
    let opts = Options {
        missing_key_error: true,
        ..Options::default()
    };
    match render(
        &mut vault,
        "{{ with secret \"secret/data/web\" }}{{ .Data.data.missing }}{{ end }}",
        opts,
    ) {
        Outcome::Error(e) => assert_eq!(
            e,
            "execute: template: :1:43: executing \"\" at <.Data.data.missing>: map has no entry for key \"missing\""
        ),
        _ => panic!("E9 with error_on_missing_key must fail"),
    }
    match render(
        &mut vault,
        "{{ with secret \"secret/data/web\" }}{{ .Data.nope.deeper }}{{ end }}",
        Options::default(),
    ) {
        Outcome::Error(e) => {
            assert_eq!(
                e,
                "execute: template: :1:43: executing \"\" at <.Data.nope.deeper>: nil pointer evaluating interface {}.deeper"
            );
        }
        _ => panic!("E31 must fail"),
    }
    match render(
        &mut vault,
        "{{ with secret \"secret/data/web\" }}{{ range .Data.data.password }}{{ end }}{{ end }}",
        Options::default(),
    ) {
        Outcome::Error(e) => assert!(!e.contains("p@ss"), "{e}"),
        _ => panic!("range over a string must fail"),
    }
}

#[test]
fn first_pass_reports_missing_secrets() {
    let mut empty = Vault::default();
    let t = Template::parse(
        "",
        "a{{ with secret \"kv1/web\" }}{{ .Data.password }}{{ end }}b",
        Options::default(),
    )
    .unwrap();
    let r = t.execute(&mut empty).unwrap();
    assert_eq!(r.text, "ab");
    assert_eq!(
        r.missing,
        vec![Dependency::Read {
            path: "kv1/web".into()
        }]
    );
    let r = t.execute(&mut section9_vault()).unwrap();
    assert_eq!(r.text, "ap@ss&<1>b");
    assert!(r.missing.is_empty());
    assert_eq!(
        r.used,
        vec![Dependency::Read {
            path: "kv1/web".into()
        }]
    );
}

// ---------------------------------------------------------------------------------------------
// Conformance cases.

/// The secrets `shared/conformance/seed.sh` writes, as OpenBao answers them (KV v2 re-encodes
/// numbers through float64: `1e3` ⇒ `1000`, `1.0` ⇒ `1`, the big integer loses digits).
fn conformance_vault() -> Vault {
    let mut v = Vault::default();
    v.kv2(
        "secret/data/consul/gossip",
        r#"{"key": "Ac0vrQoKuDOyD8e8VvWzBUyzMWi8cMIKjjlmrGOVm8g="}"#,
    );
    v.kv2("secret/data/database/config", r#"{"host":"postgres.svc","password":"p@ss<w0rd>&\"q\"'s","port":5432,"ssl":true,"username":"db-readonly"}"#);
    v.kv2(
        "secret/data/app/types",
        r#"{"big":12345678901234567000,"empty":"","empty_list":[],"empty_map":{},"exp":1000,"f":false,"false_str":"false","float":3.14,"int":42,"list":["alpha","beta","gamma"],"mixed":[1,2.5,"x",true,null,{"k":"v"},["n"]],"neg":-7,"nested":{"inner":{"a":"b","z":1},"list":[1,2]},"nothing":null,"one_point_zero":1,"t":true,"zero":0,"zero_str":"0"}"#,
    );
    v.kv2(
        "secret/data/app/unicode",
        r#"{"ключ": "значение", "emoji": "🔐 secret", "cjk": "秘密", "accent": "café", "quote": "he said \"hi\"", "backslash": "C:\\temp\\new", "newline": "line1\nline2", "tab": "a\tb", "html": "<b>Tom & Jerry</b>", "nbsp": "a\u00a0b", "ctrl": "bell\u0007", "rtl": "שלום", "combining": "e\u0301", "astral": "\ud834\udd1e"}"#,
    );
    v.kv2("secret/data/app/sorting", r#"{"b": 1, "a": 2, "B": 3, "A": 4, "10": 5, "9": 6, "_u": 7, "a-b": 8, "a_b": 9, "ä": 10, "Z": 11, "aa": 12, " space": 13}"#);
    v.kv2(
        "secret/data/app/items",
        r#"{"items": [{"name": "web", "port": 80, "tags": ["a", "b"]}, {"name": "db", "port": 5432, "tags": []}], "hosts": "h1:8500,h2:8500, h3:8500", "csv": "a,b,,c", "padded": "  padded value \n", "pem": "-----BEGIN X-----\nAAAA\nBBBB\n-----END X-----\n", "b64": "aGVsbG8gd29ybGQ=", "b64url": "aGk_Pz8-", "jsonstr": "{\"n\": 1e3, \"big\": 12345678901234567890, \"f\": 1.50, \"s\": \"x<y\", \"l\": [1, \"2\"]}", "yamlstr": "a: 1\nb: [x, y]\n", "mixedcase": "HeLLo WoRLD äÖ", "kv": "a=1,b=2"}"#,
    );
    v.kv2("secret/data/app/dash", r#"{"key-with-dash": "dash", "key.with.dot": "dot", "KeyMixed": "mixed", "123": "numeric"}"#);
    v.kv2("secret/data/app/empty", "{}");
    v.kv1(
        "kv1/app/config",
        r#"{"username": "legacy-user", "password": "legacy-pass", "port": 8080}"#,
    );
    v.kv1(
        "kv1/app/types",
        r#"{"int": 42, "float": 3.14, "exp": 1e3, "big": 12345678901234567890, "t": true, "one_point_zero": 1.0, "small": -2.5E-3, "nothing": null, "list": ["x", "y"], "nested": {"k": {"j": 1}}}"#,
    );
    v.lists.insert(
        "secret/metadata/app/nested".into(),
        vec!["deep/".into(), "three".into(), "two".into()],
    );
    v.lists.insert(
        "kv1/list".into(),
        vec!["a".into(), "b".into(), "sub/".into()],
    );
    v
}

fn case_options(opts: &serde_json::Value) -> Options {
    let mut o = Options::default();
    if let Some(t) = opts.get("template") {
        if let Some(l) = t.get("left_delimiter").and_then(|x| x.as_str()) {
            o.left = l.into();
        }
        if let Some(r) = t.get("right_delimiter").and_then(|x| x.as_str()) {
            o.right = r.into();
        }
        if let Some(m) = t.get("error_on_missing_key").and_then(|x| x.as_bool()) {
            o.missing_key_error = m;
        }
    }
    o
}

#[test]
fn conformance_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/data/conformance")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".tmpl")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    let mut ran = Vec::new();
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    for name in &names {
        let tmpl = std::fs::read_to_string(dir.join(format!("{name}.tmpl"))).unwrap();
        let opts_json: serde_json::Value =
            std::fs::read_to_string(dir.join(format!("{name}.opts.json")))
                .ok()
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(serde_json::Value::Null);
        // PKI issues real certificates and timestamps change: not for in-memory answers.
        if dir.join(format!("{name}.check")).exists()
            || tmpl.contains("pkiCert")
            || tmpl.contains("timestamp")
        {
            skipped.push(name.clone());
            continue;
        }
        let expect_error = opts_json.get("expect").and_then(|x| x.as_str()) == Some("error");
        let mut vault = conformance_vault();
        match render(&mut vault, &tmpl, case_options(&opts_json)) {
            Outcome::Error(e) if expect_error => {
                assert!(
                    e.starts_with("parse: template: ") || e.starts_with("execute: template: "),
                    "{name}: {e}"
                );
            }
            Outcome::Error(e) => failures.push(format!("{name}: error {e}")),
            Outcome::Text(t) if expect_error => {
                failures.push(format!("{name}: expected an error, got {t:?}"))
            }
            Outcome::Text(got) => {
                let want = std::fs::read_to_string(dir.join(format!("{name}.expected"))).unwrap();
                let got = normalize(&got, &opts_json);
                if got != want {
                    failures.push(format!("{name}:\n got  {got:?}\n want {want:?}"));
                }
            }
        }
        ran.push(name.clone());
    }
    // Only the PKI case (real certificates, checked by openssl) is out of reach in memory.
    assert_eq!(skipped, ["pki-server-tls"], "ran {ran:?}");
    assert!(ran.len() >= 27, "ran {ran:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn normalize(text: &str, opts: &serde_json::Value) -> String {
    let mut out = text.to_string();
    if let Some(rules) = opts.get("normalize").and_then(|x| x.as_array()) {
        for r in rules {
            if let (Some(pat), Some(rep)) = (
                r.get(0).and_then(|x| x.as_str()),
                r.get(1).and_then(|x| x.as_str()),
            ) {
                let re = regex::Regex::new(pat).expect("normalize pattern");
                out = re.replace_all(&out, regex::NoExpand(rep)).into_owned();
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Go's own `text/template` as the oracle (tests/data/go-text-template/README.md).

mod oracle {
    use std::sync::Arc;

    use vaultlet_template::{CallEnv, Func, Record, Value};

    fn data() -> Value {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let text =
            std::fs::read_to_string(dir.join("tests/data/go-text-template/data.json")).unwrap();
        Value::from_json(&vaultlet_shared::json::Json::parse(&text).unwrap())
    }

    /// `func(...string) (*Secret, error)` of the oracle program.
    fn secret(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
        for x in a {
            x.expect_str()?;
        }
        if matches!(a.first(), Some(Value::String(s)) if &**s == "boom") {
            return Err("permission denied".into());
        }
        Ok(Value::Record(Arc::new(Record {
            type_name: "*main.Secret",
            fields: vec![
                ("RequestID", Value::str("rid")),
                ("LeaseID", Value::str("")),
                ("LeaseDuration", Value::Int(2764800)),
                ("Renewable", Value::Bool(false)),
                ("Data", data()),
                ("Warnings", Value::NilList),
                ("Auth", Value::NilPtr("*main.SecretAuth")),
                ("WrapInfo", Value::NilPtr("*main.SecretWrapInfo")),
            ],
        })))
    }

    fn data_fn(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
        if !a.is_empty() {
            return Err(format!(
                "wrong number of args for data: want 0 got {}",
                a.len()
            ));
        }
        Ok(data())
    }

    fn upper(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
        if a.len() != 1 {
            return Err(format!(
                "wrong number of args for upper: want 1 got {}",
                a.len()
            ));
        }
        Ok(Value::str(a[0].expect_str()?.to_uppercase()))
    }

    pub fn lookup(name: &str) -> Option<Func> {
        match name {
            "secret" => Some(secret),
            "data" => Some(data_fn),
            "upper" => Some(upper),
            _ => None,
        }
    }
}

/// Cases where we differ from Go 1.19 on purpose, with the reason.
const ORACLE_KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    ("69", "complex literals are not supported"),
    (
        "98",
        "errors name the type, never the value (it may be a secret)",
    ),
    (
        "99",
        "errors name the type, never the value (it may be a secret)",
    ),
    ("100", "range over an integer is Go 1.22+"),
    (
        "122",
        "a consul-template function reports its own argument types",
    ),
    ("128", NAMES_TYPES),
    ("129", NAMES_TYPES),
    ("132", "errors name the types, never the values"),
    ("133", NAMES_TYPES),
    ("136", NAMES_TYPES),
    ("137", NAMES_TYPES),
    ("222", "else with is Go 1.23+"),
    (
        "223",
        "Go 1.23 reads `else with` after `if` as an unexpected <with> in input",
    ),
    ("278", "else with is Go 1.23+"),
    ("282", NAMES_TYPES),
    ("283", NAMES_TYPES),
    ("284", NAMES_TYPES),
];

/// Newer Go (the one the upstream agent is built with) names both types in a comparison error
/// (`incompatible types for comparison: int and float64`); Go 1.19 does not.
const NAMES_TYPES: &str = "Go after 1.19 names the types of incompatible comparisons";

#[test]
fn go_text_template_oracle() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/go-text-template");
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap()
    };
    let cases = read("cases.json");
    let results = read("go1.19-results.json");
    let cases = cases.as_array().unwrap();
    let results = results.as_array().unwrap();
    assert_eq!(cases.len(), results.len());
    assert!(cases.len() > 300);
    let mut failures = Vec::new();
    for (case, want) in cases.iter().zip(results) {
        let name = case["name"].as_str().unwrap();
        let src = case["tmpl"].as_str().unwrap();
        let mut opts = Options {
            missing_key_error: case
                .get("missingkey_error")
                .and_then(|x| x.as_bool())
                .unwrap_or(false),
            ..Options::default()
        };
        if let Some(l) = case.get("left").and_then(|x| x.as_str()) {
            opts.left = l.into();
            opts.right = case["right"].as_str().unwrap().into();
        }
        let got = match Template::parse_with("", src, opts, &oracle::lookup) {
            Err(e) => Err(e.to_string()),
            Ok(t) => t
                .execute(&mut Vault::default())
                .map(|r| r.text)
                .map_err(|e| e.to_string()),
        };
        let want = match (want.get("out"), want.get("err")) {
            (Some(o), _) => Ok(o.as_str().unwrap().to_string()),
            (_, Some(e)) => Err(e.as_str().unwrap().to_string()),
            _ => panic!("{name}: no result"),
        };
        let known = ORACLE_KNOWN_DIFFERENCES.iter().any(|(n, _)| *n == name);
        if known {
            assert_ne!(
                got, want,
                "case {name} now matches Go: drop it from the known differences"
            );
        } else if got != want {
            failures.push(format!(
                "case {name} {src:?}\n  go:   {want:?}\n  ours: {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
