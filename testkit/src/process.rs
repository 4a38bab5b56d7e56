//! One harness for running `switchboard serve` as a child process: the bench measures
//! through it, and the crash, replica and CLI tests kill and restart through it.
//!
//! The first start asks for port 0 and reads the port the service actually bound from
//! its `switchboard started` log line (so no other process can take a port chosen in
//! advance); a restart asks for that same port again. Ready means `GET /health/ready`
//! answered 200, not merely that a connection was accepted. A service that exits while
//! starting is an error carrying what it printed.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A running (or stopped) `switchboard serve`.
pub struct ServiceProcess {
    /// A command the binary is started under (`taskset -c 0`, say), or empty.
    launcher: Vec<String>,
    binary: PathBuf,
    env: Vec<(String, String)>,
    /// Where the child's output goes; read for its port and shown when it fails.
    log: PathBuf,
    /// The port it serves on: 0 until the first start found it.
    port: u16,
    child: Option<Child>,
}

impl ServiceProcess {
    /// Starts `binary serve` with exactly `env` (plus `SWITCHBOARD_PORT`; `RUST_LOG` and
    /// every configuration key of the caller's environment removed), its output in `log`,
    /// and waits up to `within` for it to be ready.
    pub fn start(
        binary: impl Into<PathBuf>,
        env: Vec<(String, String)>,
        log: impl Into<PathBuf>,
        within: Duration,
    ) -> anyhow::Result<Self> {
        Self::start_under(Vec::new(), binary, env, log, within)
    }

    /// As [`start`](Self::start), with `binary` started by `launcher` (a command that
    /// runs the rest of its arguments in its own place, such as `taskset -c 0`; its
    /// restarts too). The child's id is the service's only if the launcher execs it.
    pub fn start_under(
        launcher: Vec<String>,
        binary: impl Into<PathBuf>,
        env: Vec<(String, String)>,
        log: impl Into<PathBuf>,
        within: Duration,
    ) -> anyhow::Result<Self> {
        let mut service = Self { launcher, binary: binary.into(), env, log: log.into(), port: 0, child: None };
        service.launch(within)?;
        Ok(service)
    }

    /// The port it serves on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The child's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the service printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, no flush, as a crash or the OOM killer would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to `within` for a graceful exit: its status, or `None` when
    /// it had to be killed (or was not running).
    pub fn stop(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Starts it again, on the same port and environment (after [`kill`](Self::kill) or
    /// [`stop`](Self::stop)).
    pub fn restart(&mut self, within: Duration) -> anyhow::Result<()> {
        self.kill();
        self.launch(within)
    }

    fn launch(&mut self, within: Duration) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let already = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut command = match self.launcher.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(&self.binary);
                command
            }
            None => Command::new(&self.binary),
        };
        command.arg("serve");
        for key in switchboard_runtime::config::KEYS {
            command.env_remove(key.name);
        }
        command.env_remove("SWITCHBOARD_CONFIG").env_remove("RUST_LOG");
        command.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // The port is read from the start-up line, which is logged at info level.
        let quiet = self.env.iter().find(|(k, _)| k == "SWITCHBOARD_LOG").map(|(_, v)| v.clone());
        let filter = match quiet {
            Some(filter) => format!("{filter},switchboard=info"),
            None => String::from("info"),
        };
        command.env("SWITCHBOARD_LOG", filter).env("SWITCHBOARD_PORT", self.port.to_string());
        command.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        let mut child = command.spawn().with_context(|| match self.launcher.first() {
            Some(launcher) => format!("cannot start {} under {launcher}", self.binary.display()),
            None => format!("cannot start {}", self.binary.display()),
        })?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("switchboard serve exited while starting ({status}):\n{}", self.output());
            }
            if self.port == 0 {
                self.port = started_port(&self.output(), already).unwrap_or(0);
            }
            if self.port != 0 && ready(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("switchboard serve was not ready within {within:?}:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The port of the last `switchboard started` line after byte `from` of the output.
fn started_port(output: &str, from: u64) -> Option<u16> {
    let fresh = output.get(usize::try_from(from).ok()?..)?;
    fresh.lines().rev().filter(|l| l.contains("switchboard started")).find_map(|line| {
        let at = line.find("\"port\":")? + "\"port\":".len();
        line[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
    })
}

/// `GET /health/ready` answers 200.
fn ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_read_from_the_last_start_line_after_the_earlier_output() {
        let output = "{\"message\":\"switchboard started\",\"port\":4100}\nnoise\n{\"config\":\"x\",\"message\":\"switchboard started\",\"port\":4242,\"level\":\"INFO\"}\n";
        assert_eq!(started_port(output, 0), Some(4242));
        let second = output.find("noise").unwrap() as u64;
        assert_eq!(started_port(output, second), Some(4242));
        assert_eq!(started_port("nothing yet", 0), None);
    }
}
