//! `mv37 ui`: a local trace viewer in the browser, served from the CLI binary over the
//! JSONL files mv37 writes, following them live.
//!
//! - `follow` reads the files into the `index` on its own thread (`chunks` cuts them at
//!   line ends and parses each chunk on every core, `scan` reads the few fields a line
//!   needs, `search` keeps the searchable text on disk) and keeps polling.
//! - `server` answers the page's requests: `query` for the list, `sessions`, `stats`,
//!   `trace` for one trace read back from the files; `assets` is the page itself.
//!
//! Why an in-memory index with byte offsets rather than SQLite: the first page must show
//! within two seconds of opening a million spans, and the index is built in one pass at
//! several hundred megabytes a second on all cores; loading the same rows into SQLite
//! (with full-text indexing) takes many times longer, and a bundled SQLite adds a C
//! build. Memory stays bounded by keeping payloads out of it: a record costs its 16-byte
//! location plus its share of a 96-byte trace summary, whatever its size.

mod assets;
mod chunks;
mod follow;
mod hash;
mod index;
mod query;
mod scan;
mod search;
mod server;
mod sessions;
mod stats;
mod trace;

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use clap::Args;
use tokio::sync::watch;

use self::follow::{Follower, Progress, Shared, Source};
use self::index::Index;
use crate::error::{CliError, EXIT_OK};
use crate::escape::escape;
use crate::lines::LineLimitArgs;

/// Options of `mv37 ui`.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// JSONL files, and directories whose `*.jsonl` files are read (files created in them
    /// later too) [default: MV37_JSONL_PATH]
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    /// The port to listen on (0: any free port).
    #[arg(long, value_name = "N", default_value_t = 3737)]
    pub port: u16,
    /// The address to listen on. Anything but a loopback address lets other machines see
    /// every input and output of the traces.
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Open the viewer in the default browser.
    #[arg(long)]
    pub open: bool,
    #[command(flatten)]
    pub line_limit: LineLimitArgs,
    /// How often the files are checked for new lines, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 250, hide = true)]
    pub poll_interval: u64,
}

/// Runs `mv37 ui` until Ctrl-C.
pub fn run(args: UiArgs) -> Result<u8, CliError> {
    let sources = sources(&args.paths)?;
    let max_line_bytes = args.line_limit.max_line_bytes()?;
    let index = Index::new().map_err(|error| {
        CliError::Config(format!(
            "cannot create the search file in {}: {error}",
            std::env::temp_dir().display()
        ))
    })?;
    let (progress, _) = watch::channel(Progress::default());
    let shared = Arc::new(Shared {
        index: RwLock::new(index),
        progress,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("mv37-ui")
        .enable_all()
        .build()
        .map_err(|error| CliError::Config(format!("cannot start the server: {error}")))?;
    let stop = Arc::new(AtomicBool::new(false));
    let result = runtime.block_on(serve(&args, sources, max_line_bytes, Arc::clone(&shared), &stop));
    stop.store(true, Ordering::Relaxed);
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

async fn serve(
    args: &UiArgs,
    sources: Vec<Source>,
    max_line_bytes: usize,
    shared: Arc<Shared>,
    stop: &Arc<AtomicBool>,
) -> Result<u8, CliError> {
    let wanted = SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(wanted)
        .await
        .map_err(|error| CliError::Config(format!("cannot listen on {wanted}: {error}")))?;
    let address = listener
        .local_addr()
        .map_err(|error| CliError::Config(format!("cannot listen on {wanted}: {error}")))?;
    if !args.bind.is_loopback() {
        eprintln!(
            "mv37 ui: listening on {address}, which other machines may reach: whoever connects \
             sees every input, output and message of these traces"
        );
    }
    let url = format!("http://{address}/");
    println!("mv37 ui: serving {url} (Ctrl-C to stop)");
    let _ = std::io::stdout().flush();

    let interval = Duration::from_millis(args.poll_interval.max(10));
    let follower = Follower::new(sources, Arc::clone(&shared), max_line_bytes, interval);
    let follower_stop = Arc::clone(stop);
    std::thread::Builder::new()
        .name("mv37-ui-index".to_owned())
        .spawn(move || follower.run(&follower_stop))
        .map_err(|error| CliError::Config(format!("cannot start the indexer: {error}")))?;

    if args.open {
        open_browser(&url);
    }
    let state = Arc::new(server::AppState::new(shared, address.ip(), address.port()));
    let app = server::router(state);
    tokio::select! {
        served = axum::serve(listener, app) => {
            served.map_err(|error| CliError::Config(format!("the server stopped: {error}")))?;
        }
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(EXIT_OK)
}

/// The sources named on the command line (or by `MV37_JSONL_PATH`).
fn sources(paths: &[String]) -> Result<Vec<Source>, CliError> {
    let paths: Vec<String> = if paths.is_empty() {
        match std::env::var("MV37_JSONL_PATH") {
            Ok(path) if !path.is_empty() => vec![path],
            _ => {
                return Err(CliError::Usage(
                    "no file given: name JSONL files or directories, or set MV37_JSONL_PATH".to_owned(),
                ))
            }
        }
    } else {
        paths.to_vec()
    };
    paths
        .into_iter()
        .map(|path| {
            let metadata = std::fs::metadata(&path).map_err(|source| CliError::Unreadable {
                path: path.clone(),
                source,
            })?;
            if metadata.is_dir() {
                return Ok(Source::Directory(PathBuf::from(path)));
            }
            if path.ends_with(".gz") {
                return Err(CliError::Usage(format!(
                    "{}: mv37 ui reads records again by their offset in the file, which a gzip file \
                     does not allow; gunzip it first",
                    escape(&path)
                )));
            }
            Ok(Source::File(PathBuf::from(path)))
        })
        .collect()
}

/// Asks the desktop to open `url`; a failure is only reported.
fn open_browser(url: &str) {
    let (program, args): (&str, &[&str]) = if cfg!(target_os = "macos") {
        ("open", &[])
    } else if cfg!(windows) {
        ("cmd", &["/C", "start", ""])
    } else {
        ("xdg-open", &[])
    };
    let spawned = std::process::Command::new(program)
        .args(args)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(error) = spawned {
        eprintln!("mv37 ui: cannot open a browser ({program}: {error}); open {url} yourself");
    }
}
