//! Configuration: defaults, the example file, flags over the file, validation.

use std::collections::BTreeSet;

use clap::Parser;

use super::*;

/// Every key of `v` as a dotted path (mappings only).
fn keys(v: &serde_yaml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let serde_yaml::Value::Mapping(m) = v {
        for (k, v) in m {
            let k = format!("{prefix}{}", k.as_str().unwrap_or("?"));
            keys(v, &format!("{k}."), out);
            out.insert(k);
        }
    }
}

#[test]
fn the_example_config_lists_every_setting_at_its_default() {
    let text = include_str!("../../../docs/tidemark.example.yaml");
    assert_eq!(Config::from_yaml(text).unwrap(), Config::default());
    let (mut documented, mut all) = (BTreeSet::new(), BTreeSet::new());
    keys(&serde_yaml::from_str(text).unwrap(), "", &mut documented);
    keys(
        &serde_yaml::to_value(Config::default()).unwrap(),
        "",
        &mut all,
    );
    assert_eq!(documented, all, "docs/tidemark.example.yaml is out of date");
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = Config::load(&Args::default()).unwrap();
    assert_eq!(c.http_listen, "127.0.0.1:9201");
    assert_eq!(c.grpc_listen, "127.0.0.1:9202");
    assert_eq!(c.data_dir, PathBuf::from("./tidemark-data"));
    assert_eq!(c.node_id, 1);
    assert_eq!(c.shard_count, 4);
    assert_eq!(c.ooo_window_ms, 600_000);
    assert_eq!(c.limits.write_body_bytes_max, 32 << 20);
    assert_eq!(c.limits.labels_per_series_max, 64);
    assert_eq!(c.limits.remote_read_samples_max, 50_000_000);
    assert_eq!(c.limits.remote_read_frame_bytes_max, 1 << 20);
    assert_eq!(c.limits.remote_read_concurrent_requests_max, 10);
    assert_eq!(c.name_validation, NameValidation::Utf8);
}

#[test]
fn yaml_fills_defaults_and_flags_override() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tidemark.yaml");
    std::fs::write(
        &path,
        "node_id: 7\nhttp_listen: 0.0.0.0:1000\nlimits:\n  labels_per_series_max: 10\nquery:\n  timeout_ms: 5000\n",
    )
    .unwrap();
    let args = Args::parse_from([
        "tidemark",
        "--config",
        path.to_str().unwrap(),
        "--http-listen",
        "127.0.0.1:2000",
        "--data-dir",
        "/tmp/d",
    ]);
    let c = Config::load(&args).unwrap();
    assert_eq!(c.node_id, 7);
    assert_eq!(c.http_listen, "127.0.0.1:2000");
    assert_eq!(c.data_dir, PathBuf::from("/tmp/d"));
    assert_eq!(c.limits.labels_per_series_max, 10);
    assert_eq!(c.limits.label_value_bytes_max, 4096);
    assert_eq!(c.query.timeout_ms, 5000);
    assert_eq!(c.query.lookback_delta_ms, 300_000);
}

#[test]
fn unknown_fields_and_bad_values_are_errors() {
    assert!(Config::from_yaml("nodeid: 3\n").is_err());
    let c = Config::from_yaml("node_id: 0\n").unwrap();
    assert!(c.validate().is_err());
    assert!(Config::from_yaml("name_validation: legacy\n").is_ok());
    assert_eq!(Config::from_yaml("").unwrap(), Config::default());
}

#[test]
fn initial_cluster_must_list_this_node_at_its_grpc_address() {
    let args = |id: &str, grpc: &str| {
        Args::parse_from([
            "tidemark",
            "--node-id",
            id,
            "--grpc-listen",
            grpc,
            "--initial-cluster",
            "1=127.0.0.1:7001, 2=127.0.0.1:7002,3=127.0.0.1:7003",
        ])
    };
    let c = Config::load(&args("2", "127.0.0.1:7002")).unwrap();
    let m = c.initial_members().unwrap().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m[&3], "127.0.0.1:7003");
    assert_eq!(c.initial_cluster_token, "tidemark");
    assert!(Config::load(&args("4", "127.0.0.1:7004")).is_err());
    assert!(Config::load(&args("2", "127.0.0.1:7001")).is_err());
    assert!(parse_initial_cluster("1=a:1,1=b:2").is_err());
    assert!(parse_initial_cluster("1=a").is_err());
    assert!(parse_initial_cluster("x=a:1").is_err());
    let y =
        Config::from_yaml("initial_cluster: 1=127.0.0.1:9202\ninitial_cluster_token: t\n").unwrap();
    assert_eq!(y.initial_cluster_token, "t");
    assert!(y.validate().is_ok());
}

#[test]
fn a_wildcard_listen_address_needs_an_advertised_one_in_a_cluster() {
    let load = |extra: &[&str]| {
        let mut argv = vec![
            "tidemark",
            "--node-id",
            "2",
            "--grpc-listen",
            "0.0.0.0:7002",
            "--initial-cluster",
            "1=10.0.0.1:7001,2=10.0.0.2:7002",
        ];
        argv.extend_from_slice(extra);
        Config::load(&Args::parse_from(argv))
    };
    let err = load(&[]).unwrap_err().to_string();
    assert!(err.contains("grpc_advertise"), "{err}");
    let c = load(&["--grpc-advertise", "10.0.0.2:7002"]).unwrap();
    assert_eq!(c.grpc_advertised(), "10.0.0.2:7002");
    assert!(load(&["--grpc-advertise", "10.0.0.9:7002"]).is_err());
    // A single node needs no advertised address.
    let single = Config::load(&Args::parse_from([
        "tidemark",
        "--grpc-listen",
        "0.0.0.0:7002",
    ]));
    assert!(single.is_ok());
}

#[test]
fn every_flag_has_help() {
    use clap::CommandFactory;
    let cmd = Args::command();
    for arg in cmd.get_arguments() {
        if arg.get_id() == "help" || arg.get_id() == "version" {
            continue;
        }
        assert!(
            arg.get_help().is_some(),
            "flag {} has no help",
            arg.get_id()
        );
    }
}
