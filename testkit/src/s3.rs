//! A real S3 API on loopback for the S3 media store's tests: moto's server from the test
//! venv (`.venv-a2a`, `moto[server]` in tests/requirements.txt), with AWS's signature and
//! permission checks turned on, so a request signed wrong is refused as S3 would.
//!
//! Start-up makes a user with an access key allowed `s3:*`, and one bucket, then turns
//! authentication on: from then on every request must be signed with that key.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// Run by the venv's Python once moto answers: a user, its key, its policy and the bucket
/// (while moto still takes unsigned calls), then authentication on. Prints the key.
const SET_UP: &str = r#"
import json, sys, urllib.request
import boto3
from botocore.config import Config
endpoint, bucket = sys.argv[1], sys.argv[2]
anyone = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **anyone)
iam.create_user(UserName="switchboard")
key = iam.create_access_key(UserName="switchboard")["AccessKey"]
policy = iam.create_policy(PolicyName="media", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
iam.attach_user_policy(UserName="switchboard", PolicyArn=policy["Policy"]["Arn"])
boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **anyone).create_bucket(Bucket=bucket)
urllib.request.urlopen(urllib.request.Request(
    endpoint + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}))
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;

/// moto's S3 on a loopback port, killed on drop.
pub struct S3Server {
    child: Child,
    log: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// The test venv's Python: `A2A_PEER_PYTHON`, else `.venv-a2a/bin/python` at the
/// workspace root.
fn python() -> PathBuf {
    std::env::var("A2A_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-a2a/bin/python"))
}

impl S3Server {
    /// Starts moto on a free port with `bucket` in it, and waits up to 30 s for it.
    ///
    /// Errors: moto is not installed in the venv, or did not start (with what it printed).
    pub fn start(bucket: &str) -> anyhow::Result<Self> {
        let python = python();
        let installed = Command::new(&python).args(["-c", "import moto.server, boto3"]).output();
        if !installed.as_ref().is_ok_and(|o| o.status.success()) {
            bail!(
                "moto is not installed in {}: run scripts/test, or {} -m pip install -r tests/requirements.txt",
                python.display(),
                python.display()
            );
        }
        let port = crate::free_port();
        let log = std::env::temp_dir().join(format!("moto-{}-{port}.log", std::process::id()));
        let output = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()
            .with_context(|| format!("cannot run {} -m moto.server", python.display()))?;
        let mut server = Self {
            child,
            log,
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: bucket.to_owned(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
        };
        server.wait_until_it_answers(port, Duration::from_secs(30))?;
        let set_up = Command::new(&python)
            .args(["-c", SET_UP, &server.endpoint, bucket])
            .output()
            .context("cannot run the moto set-up")?;
        let printed = String::from_utf8_lossy(&set_up.stdout);
        let Some((id, secret)) = printed.trim().split_once(' ').filter(|_| set_up.status.success()) else {
            bail!("the moto set-up failed: {}", String::from_utf8_lossy(&set_up.stderr));
        };
        server.access_key_id = id.to_owned();
        server.secret_access_key = secret.to_owned();
        Ok(server)
    }

    fn wait_until_it_answers(&mut self, port: u16, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("moto exited while starting ({status}): {}", self.output());
            }
            if Instant::now() > deadline {
                bail!("moto did not answer on port {port} within {within:?}: {}", self.output());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What moto printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
