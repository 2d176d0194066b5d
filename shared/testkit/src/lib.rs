//! What the integration tests (`tests/`) and the drills share: provisioning a private stack from
//! `template.yaml` on the local AWS endpoint. The tests themselves run against the real components
//! (moto, Tryton 8.2, the Shopify stand-in, loopback HTTP), started by `infra/test.sh`.

/// Provisions a private set of tables and queues from `template.yaml` on the local AWS endpoint
/// (through `infra/local/provision.py`, as the local stack does) and returns the functions'
/// environment it wrote (table names, queue URLs).
pub fn provision(
    repo_root: &std::path::Path,
    python: &str,
    endpoint: &str,
    prefix: &str,
    params: &[(&str, &str)],
) -> Result<std::collections::HashMap<String, String>, String> {
    let dir = std::env::temp_dir().join(format!("stockbridge-{prefix}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let env_file = dir.join("stack.env");
    let mut command = std::process::Command::new(python);
    command
        .arg(repo_root.join("infra/local/provision.py"))
        .args(["--endpoint", endpoint, "--prefix", prefix, "--env-file"])
        .arg(&env_file);
    for (k, v) in params {
        command.args(["--param", &format!("{k}={v}")]);
    }
    let out = command
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "provision.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = std::fs::read_to_string(&env_file).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(text
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect())
}
