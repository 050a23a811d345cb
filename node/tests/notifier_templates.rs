//! Template files of the notifier's configuration: `templates:` globs next to the node's
//! `--notifier-config` are read at import and travel with the replicated configuration; an
//! SMS-gateway receiver whose body calls a template of such a file gets the text it renders.
//! The API shows and takes the configuration with its files in Mimir's shape, and refuses
//! one that names template files without carrying them.

mod support;

use std::time::Duration;

use serde_json::json;
use support::Node;
use support::alertmanager::wait_notifier_configured;
use tidemark_testkit::receiver::Receiver;

const CONFIG: &str = r#"
templates: ['templates/*.tmpl']
route:
  receiver: phone
  group_by: [alertname]
  group_wait: 1s
receivers:
  - name: phone
    sms_configs:
      - url: 'URL/sms'
        body:
          to: '+15550100'
          message: '{{ template "custom.sms" . }}'
"#;

const TEMPLATE: &str = r#"{{ define "custom.sms" }}PAGE {{ .CommonLabels.alertname }} on {{ .CommonLabels.instance }} ({{ .Alerts.Firing | len }} firing){{ end }}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_files_travel_with_the_configuration() {
    let gateway = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/sms.tmpl"), TEMPLATE).unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(&config, CONFIG.replace("URL", &gateway.url())).unwrap();
    let node = Node::start(
        &dir.path().join("n1"),
        &["--notifier-config", config.to_str().unwrap()],
    );
    let url = node.url();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    wait_notifier_configured(&client, &url).await;
    let res = client
        .post(format!("{url}/api/v2/alerts"))
        .json(&json!([{"labels": {"alertname": "DiskFull", "instance": "db-1"}}]))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let sms = gateway
        .wait_for_async(1, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("no SMS: {e}\n{}", node.log()));
    let body = sms[0].json();
    assert_eq!(body["message"], "PAGE DiskFull on db-1 (1 firing)");
    assert_eq!(body["to"], "+15550100");

    // The API shows the configuration with its files, in Mimir's shape ...
    let shown = client
        .get(format!("{url}/api/v1/admin/notifier/config"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let shown: serde_yaml::Value = serde_yaml::from_str(&shown).unwrap();
    let files = shown["template_files"]
        .as_mapping()
        .expect("template_files");
    assert_eq!(files.len(), 1);
    assert_eq!(files.values().next().unwrap().as_str(), Some(TEMPLATE));
    assert!(
        shown["alertmanager_config"]
            .as_str()
            .unwrap()
            .contains("custom.sms")
    );

    // ... takes it back so (a changed template is used from then on) ...
    let changed = serde_yaml::to_string(&json!({
        "template_files": {"sms.tmpl": TEMPLATE.replace("PAGE", "CALL")},
        "alertmanager_config": CONFIG.replace("URL", &gateway.url()),
    }))
    .unwrap();
    let res = client
        .put(format!("{url}/api/v1/admin/notifier/config"))
        .body(changed)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    // ... and refuses a configuration that names template files without them, or whose
    // templates do not parse.
    for bad in [
        CONFIG.to_string(),
        serde_yaml::to_string(&json!({
            "template_files": {"broken.tmpl": "{{ define \"x\" }}"},
            "alertmanager_config": CONFIG,
        }))
        .unwrap(),
    ] {
        let res = client
            .put(format!("{url}/api/v1/admin/notifier/config"))
            .body(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 400);
    }
    let res = client
        .post(format!("{url}/api/v2/alerts"))
        .json(&json!([{"labels": {"alertname": "CpuHot", "instance": "web-2"}}]))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let sms = gateway
        .wait_for_async(2, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("no second SMS: {e}\n{}", node.log()));
    assert_eq!(sms[1].json()["message"], "CALL CpuHot on web-2 (1 firing)");
}
