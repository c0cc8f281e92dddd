//! End-to-end tests of consul-template's functions through the template engine: templates and
//! data from agent.md §9 and the conformance cases (real outputs of the real agent), run against
//! an in-memory runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vaultlet_shared::vault::Secret;
use vaultlet_template::{Context, Dependency, Fetched, Options, Template};

#[derive(Default)]
struct Runtime {
    data: HashMap<Dependency, Result<Fetched, String>>,
    env: HashMap<String, String>,
    now: u64,
}

impl Context for Runtime {
    fn fetch(&mut self, dep: &Dependency) -> Option<Result<Fetched, String>> {
        self.data.get(dep).cloned()
    }
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.now)
    }
    fn real_path(&self, _path: &Path) -> Option<PathBuf> {
        None
    }
}

impl Runtime {
    /// A read of `path` answering with this Vault response body.
    fn read(mut self, path: &str, body: &str) -> Self {
        let s = Secret::from_json(body.as_bytes()).expect("valid response");
        self.data.insert(
            Dependency::Read { path: path.into() },
            Ok(Fetched::Secret(Some(Arc::new(s)))),
        );
        self
    }

    fn kv2(self, path: &str, data: &str) -> Self {
        let body = format!(
            r#"{{"request_id":"req-1","lease_id":"","lease_duration":0,"renewable":false,"data":{{"data":{data},"metadata":{{"created_time":"2026-11-22T10:48:29.094194076Z","custom_metadata":{{"env":"prod","owner":"team-a"}},"deletion_time":"","destroyed":false,"version":1}}}},"warnings":null}}"#
        );
        self.read(path, &body)
    }

    fn kv1(self, path: &str, data: &str) -> Self {
        let body = format!(
            r#"{{"request_id":"req-2","lease_id":"","lease_duration":2764800,"renewable":false,"data":{data},"warnings":null}}"#
        );
        self.read(path, &body)
    }
}

fn render_opts(rt: &mut Runtime, text: &str, opts: Options) -> String {
    let t = Template::parse("", text, opts).unwrap_or_else(|e| panic!("parse {text:?}: {e}"));
    let out = t
        .execute(rt)
        .unwrap_or_else(|e| panic!("execute {text:?}: {e}"));
    assert!(out.missing.is_empty(), "missing {:?}", out.missing);
    out.text
}

fn render(rt: &mut Runtime, text: &str) -> String {
    render_opts(rt, text, Options::default())
}

fn exec_error(rt: &mut Runtime, text: &str) -> String {
    let t = Template::parse("", text, Options::default()).expect("parses");
    t.execute(rt).expect_err("fails").to_string()
}

const F1: &str = r#"{"username":"app","password":"p@ss&<1>"}"#;
const F3: &str = r#"{"db":{"host":"db.internal","port":5432,"opts":{"ssl":true,"timeout":"5s"},"replicas":["r1","r2"]},"feature_flags":[],"ratio":0.75,"note":null}"#;

#[test]
fn first_pass_records_missing_secrets_and_renders_nothing_inside_with() {
    let mut rt = Runtime::default();
    let t = Template::parse(
        "",
        r#"a{{ with secret "secret/data/web" }}{{ .Data }}{{ end }}b"#,
        Options::default(),
    )
    .unwrap();
    let out = t.execute(&mut rt).unwrap();
    assert_eq!(out.text, "ab");
    let dep = Dependency::Read {
        path: "secret/data/web".into(),
    };
    assert_eq!(out.used, vec![dep.clone()]);
    assert_eq!(out.missing, vec![dep]);
}

#[test]
fn e5_injector_json_template() {
    let mut rt = Runtime::default().kv2("secret/data/web", F1);
    assert_eq!(
        render(
            &mut rt,
            "{{ with secret \"secret/data/web\" }}{{ .Data | toJSON }}\n{{ end }}"
        ),
        "{\"data\":{\"password\":\"p@ss\\u0026\\u003c1\\u003e\",\"username\":\"app\"},\"metadata\":{\"created_time\":\"2026-11-22T10:48:29.094194076Z\",\"custom_metadata\":{\"env\":\"prod\",\"owner\":\"team-a\"},\"deletion_time\":\"\",\"destroyed\":false,\"version\":1}}\n"
    );
}

#[test]
fn e6_e12_e13_serialisers() {
    let mut rt = Runtime::default()
        .kv1("kv1/cfg", F3)
        .kv2("secret/data/cfg", F3);
    assert_eq!(
        render(
            &mut rt,
            "{{ with secret \"kv1/cfg\" }}{{ .Data | toJSON }}\n{{ end }}"
        ),
        "{\"db\":{\"host\":\"db.internal\",\"opts\":{\"ssl\":true,\"timeout\":\"5s\"},\"port\":5432,\"replicas\":[\"r1\",\"r2\"]},\"feature_flags\":[],\"note\":null,\"ratio\":0.75}\n"
    );
    assert_eq!(
        render(
            &mut rt,
            "{{ with secret \"secret/data/cfg\" }}{{ .Data.data | toJSONPretty }}{{ end }}\n"
        ),
        "{\n  \"db\": {\n    \"host\": \"db.internal\",\n    \"opts\": {\n      \"ssl\": true,\n      \"timeout\": \"5s\"\n    },\n    \"port\": 5432,\n    \"replicas\": [\n      \"r1\",\n      \"r2\"\n    ]\n  },\n  \"feature_flags\": [],\n  \"note\": null,\n  \"ratio\": 0.75\n}\n"
    );
    assert_eq!(
        render(
            &mut rt,
            "{{ with secret \"kv1/cfg\" }}{{ .Data | toYAML }}{{ end }}\n"
        ),
        "db:\n  host: db.internal\n  opts:\n    ssl: true\n    timeout: 5s\n  port: 5432\n  replicas:\n  - r1\n  - r2\nfeature_flags: []\nnote: null\nratio: 0.75\n"
    );
}

#[test]
fn e13_yaml_of_every_value_kind() {
    let f4 = r#"{"str":"hello world","int":42,"big":12345678901234567890,"empty":"","multi":"line1\nline2","map":{"b":"2","a":"1"},"y":"y"}"#;
    let mut rt = Runtime::default().kv1("kv1/nested", f4);
    assert_eq!(
        render(
            &mut rt,
            "{{ with secret \"kv1/nested\" }}{{ .Data | toYAML }}{{ end }}"
        ),
        "big: 1.2345678901234567e+19\nempty: \"\"\nint: 42\nmap:\n  a: \"1\"\n  b: \"2\"\nmulti: |-\n  line1\n  line2\nstr: hello world\n\"y\": \"y\""
    );
}

#[test]
fn e14_base64() {
    let mut rt = Runtime::default().kv1("kv1/web", F1);
    assert_eq!(
        render(
            &mut rt,
            r#"{{ with secret "kv1/web" }}{{ .Data.password | base64Encode }}{{ end }}"#
        ),
        "cEBzcyY8MT4="
    );
    assert_eq!(
        render(
            &mut rt,
            r#"{{ with secret "kv1/web" }}{{ printf "%s:%s" .Data.username .Data.password | base64Encode }}{{ end }}"#
        ),
        "YXBwOnBAc3MmPDE+"
    );
    assert_eq!(
        render(&mut rt, r#"{{ "cEBzcyY8MT4=" | base64Decode }}"#),
        "p@ss&<1>"
    );
}

#[test]
fn e18_secrets_lists() {
    let mut rt = Runtime::default();
    rt.data.insert(
        Dependency::List {
            path: "secret".into(),
        },
        Ok(Fetched::List(vec![
            "cfg".into(),
            "consul/".into(),
            "web".into(),
        ])),
    );
    rt.data.insert(
        Dependency::List { path: "kv1".into() },
        Ok(Fetched::List(vec![
            "cfg".into(),
            "nested".into(),
            "nums".into(),
            "web".into(),
        ])),
    );
    assert_eq!(
        render(&mut rt, r#"{{ range secrets "secret/" }}{{ . }},{{ end }}"#),
        "cfg,consul/,web,"
    );
    assert_eq!(
        render(&mut rt, r#"{{ secrets "kv1/" | toJSON }}"#),
        r#"["cfg","nested","nums","web"]"#
    );
}

#[test]
fn e21_chain_skips_the_root_with_reversed_subtract() {
    let body = r#"{"request_id":"r","lease_id":"","lease_duration":0,"renewable":false,"data":{"certificate":"LEAF","private_key":"KEY","ca_chain":["INT","ROOT"]}}"#;
    let s = Secret::from_json(body.as_bytes()).unwrap();
    let mut rt = Runtime::default();
    rt.data.insert(
        Dependency::Write {
            path: "pki_int/issue/consul-server".into(),
            params: vec![
                (
                    "alt_names".into(),
                    "localhost,consul-server,*.consul-server,*.server.dc1.consul".into(),
                ),
                ("common_name".into(), "server.dc1.consul".into()),
                ("ip_sans".into(), "127.0.0.1".into()),
            ],
        },
        Ok(Fetched::Secret(Some(Arc::new(s)))),
    );
    let tmpl = "{{- with secret \"pki_int/issue/consul-server\" \"common_name=server.dc1.consul\"\n\"alt_names=localhost,consul-server,*.consul-server,*.server.dc1.consul\" \"ip_sans=127.0.0.1\" -}}\n{{- .Data.certificate -}}\n{{- if .Data.ca_chain -}}\n{{- $lastintermediatecertindex := len .Data.ca_chain | subtract 1 -}}\n{{ range $index, $cacert := .Data.ca_chain }}\n{{ if (lt $index $lastintermediatecertindex) }}\n{{ $cacert }}\n{{ end }}\n{{ end }}\n{{- end -}}\n{{- end -}}";
    assert_eq!(render(&mut rt, tmpl), "LEAF\n\nINT\n\n\n\n");
}

#[test]
fn e24_pki_cert_bundle() {
    let mut rt = Runtime::default();
    let opts = Options {
        destination: Some("/vault/secrets/tls.pem".into()),
        ..Options::default()
    };
    rt.data.insert(
        Dependency::Pki {
            path: "pki_int/issue/consul-server".into(),
            dest: "/vault/secrets/tls.pem".into(),
            params: vec![
                ("common_name".into(), "app.dc1.consul".into()),
                ("ttl".into(), "1h".into()),
            ],
        },
        Ok(Fetched::Pki {
            cert: "LEAF\n".into(),
            key: "KEY\n".into(),
            ca: "INT\n".into(),
            ca_chain: vec!["INT\n".into()],
        }),
    );
    assert_eq!(
        render_opts(
            &mut rt,
            r#"{{ with pkiCert "pki_int/issue/consul-server" "common_name=app.dc1.consul" "ttl=1h" }}{{ .Cert }}{{ .Key }}{{ .Data.Cert }}{{ end }}"#,
            opts
        ),
        "LEAF\nKEY\nLEAF\n"
    );
}

#[test]
fn e29_numbers_need_print_before_parsing() {
    let mut rt = Runtime::default().kv1(
        "kv1/nums",
        r#"{"zero":0,"n":42,"f":0.0,"t":true,"nul":null}"#,
    );
    assert_eq!(
        render(
            &mut rt,
            r#"{{ with secret "kv1/nums" }}{{ .Data.n | print | parseInt | add 1 }}{{ end }}"#
        ),
        "43"
    );
    let err = exec_error(
        &mut rt,
        r#"{{ with secret "kv1/nums" }}{{ .Data.n | parseInt }}{{ end }}"#,
    );
    assert!(
        err.contains("wrong type for value; expected string; got json.Number"),
        "{err}"
    );
    let err = exec_error(
        &mut rt,
        r#"{{ with secret "kv1/nums" }}{{ .Data.n | add 1 }}{{ end }}"#,
    );
    // Go's text quotes the value ("42"); ours names its type and length (issue 16,
    // vaultlet_template::redact).
    assert!(
        err.contains(r#"add: unknown type for <json.Number, 2 bytes> (json.Number)"#),
        "{err}"
    );
}

#[test]
fn e30_string_helpers() {
    let mut rt = Runtime::default().kv1("kv1/web", F1);
    assert_eq!(
        render(
            &mut rt,
            r#"{{ with secret "kv1/web" }}{{ .Data.password | replaceAll "&" "and" | trimSpace }} {{ .Data.username | toTitle }}{{ end }}"#
        ),
        "p@ssand<1> App"
    );
    assert_eq!(
        render(&mut rt, r#"{{ "a,b,c" | split "," | join ";" }}"#),
        "a;b;c"
    );
    assert_eq!(render(&mut rt, r#"{{ "x" | contains "x" }}"#), "true");
    assert_eq!(
        render(&mut rt, r#"{{ "hello" | regexReplaceAll "l+" "L" }}"#),
        "heLo"
    );
    assert_eq!(
        render(
            &mut rt,
            r#"{{ "abc" | sprig_upper }} {{ sprig_default "dflt" "" }}"#
        ),
        "ABC dflt"
    );
    assert_eq!(
        render(&mut rt, r#"{{ parseJSON "{\"a\":[1,2]}" | toJSON }}"#),
        r#"{"a":[1,2]}"#
    );
    assert_eq!(render(&mut rt, "{{ add 1 2 }} {{ multiply 2 3 }}"), "3 6");
}

#[test]
fn e32_parse_json_floats() {
    let mut rt = Runtime::default();
    let list = "[123456,1234567,0.0001,0.00001,1.5e300,-0.5,100,1.0,2.50,1e21,1e20]";
    assert_eq!(
        render(&mut rt, &format!("{{{{ parseJSON \"{list}\" }}}}")),
        "[123456 1.234567e+06 0.0001 1e-05 1.5e+300 -0.5 100 1 2.5 1e+21 1e+20]"
    );
    assert_eq!(
        render(&mut rt, &format!("{{{{ parseJSON \"{list}\" | toJSON }}}}")),
        "[123456,1234567,0.0001,0.00001,1.5e+300,-0.5,100,1,2.5,1e+21,100000000000000000000]"
    );
}

/// The `app/items` and `app/types` secrets of the conformance seed, as KV v2 returns them.
const ITEMS: &str = r#"{"items": [{"name": "web", "port": 80, "tags": ["a", "b"]}, {"name": "db", "port": 5432, "tags": []}],
  "hosts": "h1:8500,h2:8500, h3:8500", "csv": "a,b,,c", "padded": "  padded value \n",
  "pem": "-----BEGIN X-----\nAAAA\nBBBB\n-----END X-----\n", "b64": "aGVsbG8gd29ybGQ=", "b64url": "aGk_Pz8-",
  "mixedcase": "HeLLo WoRLD äÖ", "kv": "a=1,b=2"}"#;
const TYPES: &str = r#"{"int":42,"neg":-7,"zero":0,"float":3.14,"one_point_zero":1,"exp":1000,"big":12345678901234567000,"t":true,"f":false,"nothing":null,"empty":"","zero_str":"0","false_str":"false","list":["alpha","beta","gamma"],"mixed":[1,2.5,"x",true,null,{"k":"v"},["n"]],"nested":{"inner":{"z":1,"a":"b"},"list":[1,2]},"empty_map":{},"empty_list":[]}"#;

fn conformance_rt() -> Runtime {
    Runtime::default()
        .kv2("secret/data/app/items", ITEMS)
        .kv2("secret/data/app/types", TYPES)
}

#[test]
fn conformance_base64() {
    let t = "{{ with secret \"secret/data/app/items\" }}{{ .Data.data.b64 | base64Decode }}|{{ \"hello world\" | base64Encode }}|{{ .Data.data.b64url | base64URLDecode }}|{{ \"hi??>\" | base64URLEncode }}{{ end }}\n";
    assert_eq!(
        render(&mut conformance_rt(), t),
        "hello world|aGVsbG8gd29ybGQ=|hi???>|aGk_Pz4=\n"
    );
}

#[test]
fn conformance_case_and_trim() {
    let t = "{{ with secret \"secret/data/app/items\" }}{{ .Data.data.mixedcase | toUpper }}|{{ .Data.data.mixedcase | toLower }}|[{{ .Data.data.padded | trimSpace }}]|{{ .Data.data.mixedcase | toLower | toTitle }}|[{{ .Data.data.padded | trim \" \\n\" }}]|{{ .Data.data.pem | trimPrefix \"-----BEGIN X-----\\n\" | trimSuffix \"\\n\" }}{{ end }}\n";
    assert_eq!(
        render(&mut conformance_rt(), t),
        "HELLO WORLD ÄÖ|hello world äö|[padded value]|Hello World Äö|[padded value]|AAAA\nBBBB\n-----END X-----\n"
    );
}

#[test]
fn conformance_split_join() {
    let t = "{{ with secret \"secret/data/app/items\" }}{{ range split \",\" .Data.data.csv }}[{{ . }}]{{ end }}\n{{ split \",\" .Data.data.hosts | join \";\" }}\n{{ len (split \",\" .Data.data.csv) }}\n{{ range $i, $h := split \",\" .Data.data.hosts }}{{ $i }}={{ $h | trimSpace }} {{ end }}\n[{{ split \",\" \"\" }}] {{ len (split \",\" \"  \") }}{{ end }}\n";
    assert_eq!(
        render(&mut conformance_rt(), t),
        "[a][b][][c]\nh1:8500;h2:8500; h3:8500\n4\n0=h1:8500 1=h2:8500 2=h3:8500 \n[[]] 0\n"
    );
}

#[test]
fn conformance_hash_and_math() {
    let t = "{{ \"hello\" | sha256Hex }} {{ \"hello\" | md5sum }} {{ hmacSHA256Hex \"msg\" \"key\" }}\n{{ add 1 2 }} {{ subtract 1 10 }} {{ multiply 3 4 }} {{ divide 4 10 }} {{ divide 4.0 10 }} {{ modulo 3 10 }} {{ minimum 3 1 }} {{ maximum 3 1 }}\n{{ with secret \"secret/data/app/types\" }}{{ printf \"%v\" .Data.data.int | parseInt | add 1 }} {{ printf \"%v\" .Data.data.float | parseFloat | multiply 2 }}{{ end }}\n";
    assert_eq!(
        render(&mut conformance_rt(), t),
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 5d41402abc4b2a76b9719d911017c592 2d93cbc1be167bcb1637a4a23cbff01a7878f0c50ee833954ea5221bb1b8c628\n3 9 12 2 2.5 1 1 3\n43 6.28\n"
    );
}

#[test]
fn conformance_tojson_data() {
    let t = "{{ with secret \"secret/data/app/types\" }}{{ .Data.data | toJSON }}{{ end }}\n";
    assert_eq!(
        render(&mut conformance_rt(), t),
        "{\"big\":12345678901234567000,\"empty\":\"\",\"empty_list\":[],\"empty_map\":{},\"exp\":1000,\"f\":false,\"false_str\":\"false\",\"float\":3.14,\"int\":42,\"list\":[\"alpha\",\"beta\",\"gamma\"],\"mixed\":[1,2.5,\"x\",true,null,{\"k\":\"v\"},[\"n\"]],\"neg\":-7,\"nested\":{\"inner\":{\"a\":\"b\",\"z\":1},\"list\":[1,2]},\"nothing\":null,\"one_point_zero\":1,\"t\":true,\"zero\":0,\"zero_str\":\"0\"}\n"
    );
}

#[test]
fn secret_record_serialises_with_go_field_names() {
    let mut rt = Runtime::default().kv1("kv1/web", F1);
    assert_eq!(
        render(
            &mut rt,
            r#"{{ with secret "kv1/web" }}{{ . | toJSON }}{{ end }}"#
        ),
        r#"{"RequestID":"req-2","LeaseID":"","LeaseDuration":2764800,"Renewable":false,"Data":{"password":"p@ss\u0026\u003c1\u003e","username":"app"},"Warnings":null,"Auth":null,"WrapInfo":null}"#
    );
}

#[test]
fn env_timestamp_scratch_and_loop() {
    let mut rt = Runtime::default();
    rt.env.insert("POD".into(), "web-0".into());
    rt.now = 1_795_344_509;
    assert_eq!(
        render(
            &mut rt,
            r#"{{ env "POD" }}|{{ env "NOPE" }}|{{ envOrDefault "NOPE" "d" }}"#
        ),
        "web-0||d"
    );
    assert_eq!(
        render(
            &mut rt,
            r#"{{ timestamp }} {{ timestamp "unix" }} {{ timestamp "2006-01-02" }}"#
        ),
        "2026-11-22T10:48:29Z 1795344509 2026-11-22"
    );
    assert_eq!(
        render(
            &mut rt,
            r#"{{ scratch.Set "a" "1" }}{{ scratch.SetX "a" "2" }}{{ scratch.Get "a" }}{{ if scratch.Key "a" }}!{{ end }}"#
        ),
        "1!"
    );
    assert_eq!(
        render(
            &mut rt,
            "{{ range loop 3 }}{{ . }}{{ end }}|{{ range $i := loop 5 8 }}{{ $i }}{{ end }}"
        ),
        "012|567"
    );
    let err = exec_error(&mut rt, r#"{{ mustEnv "NOPE" }}"#);
    assert!(
        err.contains("required environment variable NOPE is empty"),
        "{err}"
    );
}

#[test]
fn collections_and_indent() {
    let mut rt = Runtime::default();
    assert_eq!(
        render(&mut rt, r#"{{ "a=1,b=2" | splitToMap "," "=" }}"#),
        "map[a:1 b:2]"
    );
    assert_eq!(
        render(&mut rt, "{{ \"a\\nb\" | indent 4 }}"),
        "    a\n    b"
    );
    assert_eq!(
        render(&mut rt, r#"{{ parseYAML "a: 1\nb: [x, z]" | toJSON }}"#),
        r#"{"a":1,"b":["x","z"]}"#
    );
    assert_eq!(
        render(
            &mut rt,
            r#"{{ $m := parseJSON "{\"a/b\":\"1\",\"c\":\"2\"}" }}{{ explodeMap $m }}"#
        ),
        "map[a:map[b:1] c:2]"
    );
    let err = exec_error(&mut rt, r#"{{ indent -1 "x" }}"#);
    assert!(
        err.contains("indent value must be a positive integer"),
        "{err}"
    );
}

#[test]
fn consul_functions_parse_but_fail_at_execution() {
    let mut rt = Runtime::default();
    assert_eq!(
        render(&mut rt, r#"{{ if false }}{{ key "a" }}{{ end }}ok"#),
        "ok"
    );
    let err = exec_error(&mut rt, r#"{{ key "a" }}"#);
    assert!(
        err.contains(r#"function "key" needs Consul, which Vault Agent templates do not support"#),
        "{err}"
    );
}

#[test]
fn file_reads_through_the_runtime() {
    let mut rt = Runtime::default();
    rt.data.insert(
        Dependency::File {
            path: "/etc/app/ca.pem".into(),
        },
        Ok(Fetched::File("PEM".into())),
    );
    assert_eq!(
        render(&mut rt, r#"[{{ file "/etc/app/ca.pem" }}]"#),
        "[PEM]"
    );
    let opts = Options {
        sandbox_path: Some("/vault/secrets".into()),
        ..Options::default()
    };
    let t = Template::parse("", r#"{{ file "/etc/app/ca.pem" }}"#, opts).unwrap();
    let err = t.execute(&mut rt).unwrap_err().to_string();
    assert!(
        err.contains("'/etc/app/ca.pem' is outside of sandbox"),
        "{err}"
    );
}
