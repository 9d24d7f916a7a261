//! The command line: arguments (clap), the pipeline per command, errors and exit codes.

use crate::check::{self, CheckError, JacobianCheck, Report, RunOptions, SizeRange, SweepReport, Weights};
use crate::derive::{self, DeriveError};
use crate::limits::Limits;
use crate::model;
use crate::render::{self, TableFormat};
use crate::syntax::{self, Span};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// symconv: derives, proves and checks the index formulas of convolutions.
#[derive(Debug, Parser)]
#[command(name = "symconv", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Derive the domain, length and every ∂s/∂t with proof steps; tables; claims; runs.
    Derive {
        /// The spec files.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = DeriveFormat::Text)]
        format: DeriveFormat,
        /// Sizes replacing the spec's `let` values, as `n=64,k=5`.
        #[arg(long = "let", value_parser = parse_sizes)]
        sizes: Option<Sizes>,
        /// How runs are fed.
        #[command(flatten)]
        runs: RunArgs,
        /// Only the domain, the lengths, the closed forms and the verdicts: no steps, no
        /// tables (text only).
        #[arg(long)]
        brief: bool,
    },
    /// Print the Jacobian table ∂s/∂T at the spec's sizes (or --let).
    Table {
        /// The spec file.
        spec: PathBuf,
        /// The tensor T to differentiate against.
        #[arg(long)]
        wrt: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Sizes replacing the spec's `let` values, as `n=64,k=5`.
        #[arg(long = "let", value_parser = parse_sizes)]
        sizes: Option<Sizes>,
        /// Print the receptive field of this output element, as `i=1,j=2` (every index of
        /// the output, by its name in the spec), instead of the whole table; repeat for
        /// several. Text only.
        #[arg(long, value_name = "OUTPUT", value_parser = parse_position)]
        at: Vec<Position>,
    },
    /// Verify the claims and runs, one line per spec; exit 1 when any fails.
    Check {
        /// The spec files.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Sizes replacing the spec's `let` values, as `n=64,k=5`.
        #[arg(long = "let", value_parser = parse_sizes)]
        sizes: Option<Sizes>,
        /// Also cross-check every symbolic result and claim against brute force at every
        /// combination of these ranges, as `n=1..32,k=1..8` (a single value: `S=2`).
        #[arg(long, value_parser = parse_ranges)]
        sweep: Option<Ranges>,
        /// How runs are fed.
        #[command(flatten)]
        runs: RunArgs,
        /// Output format: a line per spec, a JSON object per spec and line, or one JUnit
        /// XML document.
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
    /// Write the docs: a Markdown page per spec (its definition, domain and length,
    /// derivations, backward calls, Jacobian tables with SVG pictures, and verdicts) and
    /// an index, nothing when a spec has an error.
    Docs {
        /// The spec files.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// The folder to write into; it is made when it does not exist.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Overwrite files that symconv docs did not write.
        #[arg(long)]
        force: bool,
    },
    /// Write a spec from a PyTorch call, e.g. `symconv new 'nn.Conv2d(3, 8, 3, stride=2)'
    /// --let H=32,V=32 > my.conv`: checked (every claim proved, the run agreeing) first.
    New {
        /// The call: nn.Conv1d/2d/3d, nn.ConvTranspose1d/2d/3d, or F.conv1d/2d/3d,
        /// F.conv_transpose1d/2d/3d.
        call: String,
        /// The input's sizes (`n`; `H,V`; `Z,H,V`), and for a functional call the
        /// kernel's (`k`; `P,Q`; `R,P,Q`) and the channels `C`, `O` (default 1).
        #[arg(long = "let", value_parser = parse_sizes)]
        sizes: Option<Sizes>,
    },
}

/// `check`'s output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// One line per spec.
    Text,
    /// One JSON object per spec, one per line.
    Json,
    /// One JUnit XML document: a test suite per spec, a test case per claim and run.
    Junit,
}

/// How `run` lines are fed to the engine.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct RunArgs {
    /// The seed of the inputs' and weights' values.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The weights: distinct integers, or all ones (as the seed test used, which cannot
    /// tell one weight from another).
    #[arg(long, value_enum, default_value_t = WeightsArg::Distinct)]
    pub weights: WeightsArg,
    /// How the Jacobians are compared with the engine's: every entry (at sizes too large
    /// for tables, row by row), or Freivalds' randomized check of J·u and vᵀ·J; `auto`
    /// switches to Freivalds' check above 4·10⁶ entries that can be nonzero.
    #[arg(long, value_enum, default_value_t = JacobiansArg::Auto)]
    pub jacobians: JacobiansArg,
}

/// The `--jacobians` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JacobiansArg {
    /// Every entry up to 4·10⁶ entries that can be nonzero, Freivalds' check beyond.
    Auto,
    /// Every entry, however many.
    EveryEntry,
    /// Freivalds' check at any size.
    Freivalds,
}

/// The `--weights` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WeightsArg {
    /// Distinct nonzero integers.
    Distinct,
    /// All ones.
    Ones,
}

impl From<RunArgs> for RunOptions {
    fn from(a: RunArgs) -> RunOptions {
        let weights = match a.weights {
            WeightsArg::Distinct => Weights::Distinct,
            WeightsArg::Ones => Weights::Ones,
        };
        let jacobians = match a.jacobians {
            JacobiansArg::Auto => JacobianCheck::Auto,
            JacobiansArg::EveryEntry => JacobianCheck::EveryEntry,
            JacobiansArg::Freivalds => JacobianCheck::Freivalds,
        };
        RunOptions { seed: a.seed, weights, jacobians }
    }
}

/// `derive`'s output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeriveFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per spec, one per line.
    Json,
}

/// `table`'s output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A box-drawn table.
    Text,
    /// A Markdown table.
    Markdown,
    /// CSV.
    Csv,
    /// A LaTeX math display (`\[ … \]` around an array).
    Latex,
    /// JSON.
    Json,
    /// An SVG picture: a cell per entry, coloured by the element it holds.
    Svg,
}

impl From<Format> for TableFormat {
    fn from(f: Format) -> TableFormat {
        match f {
            Format::Text => TableFormat::Text,
            Format::Markdown => TableFormat::Markdown,
            Format::Csv => TableFormat::Csv,
            Format::Latex => TableFormat::Latex,
            Format::Json => TableFormat::Json,
            Format::Svg => TableFormat::Svg,
        }
    }
}

/// Sizes given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizes(pub Vec<(String, i64)>);

fn parse_sizes(s: &str) -> Result<Sizes, String> {
    let nonnegative = |name: &str, value: i64| match value < 0 {
        true => Err(format!("`{name}` = {value}: sizes cannot be negative")),
        false => Ok(()),
    };
    Ok(Sizes(name_values(s, "name", nonnegative)?))
}

/// `a=1,b=2` as names and integers, each pair accepted by `check` in turn (`what` names
/// the left side in the message for a pair without `=`).
fn name_values(
    s: &str,
    what: &str,
    check: impl Fn(&str, i64) -> Result<(), String>,
) -> Result<Vec<(String, i64)>, String> {
    let mut out = Vec::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').ok_or_else(|| format!("expected {what}=value, found `{pair}`"))?;
        let value: i64 = value.trim().parse().map_err(|_| format!("`{}` is not an integer", value.trim()))?;
        check(name.trim(), value)?;
        out.push((name.trim().to_string(), value));
    }
    Ok(out)
}

/// An output element given on the command line, as `i=1,j=2`.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// As the user wrote it.
    pub text: String,
    /// Each index's name and value.
    pub indices: Vec<(String, i64)>,
}

fn parse_position(s: &str) -> Result<Position, String> {
    let indices = name_values(s, "index", |_, _| Ok(()))?;
    if indices.is_empty() {
        return Err("expected index=value, as `i=1,j=2`".into());
    }
    Ok(Position { text: s.to_string(), indices })
}

/// Size ranges given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranges(pub Vec<SizeRange>);

fn parse_ranges(s: &str) -> Result<Ranges, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, range) = part.split_once('=').ok_or_else(|| format!("expected name=lo..hi, found `{part}`"))?;
        let int = |v: &str| v.trim().parse::<i64>().map_err(|_| format!("`{}` is not an integer", v.trim()));
        let (lo, hi) = match range.split_once("..") {
            Some((lo, hi)) => (int(lo)?, int(hi.trim_start_matches('='))?),
            None => match dashed_range(range) {
                Some((lo, hi)) => return Err(format!("write a range as `{lo}..{hi}`")),
                None => (int(range)?, int(range)?),
            },
        };
        out.push(SizeRange { name: name.trim().to_string(), lo, hi });
    }
    Ok(Ranges(out))
}

/// `lo-hi` (`1-8`), the way a range is often written, as two integers.
fn dashed_range(range: &str) -> Option<(i64, i64)> {
    let range = range.trim();
    let at = range.char_indices().skip(1).find(|&(_, c)| c == '-')?.0;
    Some((range[..at].trim().parse().ok()?, range[at + 1..].trim().parse().ok()?))
}

/// One mistake in a spec: where, what is wrong, and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Where the offending text stands.
    pub span: Span,
    /// What is wrong.
    pub message: String,
    /// What to do, when known.
    pub hint: Option<String>,
}

/// The most mistakes in one file that a diagnostic shows; it counts the others.
pub const MOST_SHOWN: usize = 20;

/// Everything that stops a command, with what a message about it needs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read as UTF-8 text.
    #[error("cannot read {}: {why}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A mistake in a spec, with its place.
    #[error("{}", problem.message)]
    Spec {
        /// The file.
        path: PathBuf,
        /// Its text.
        src: String,
        /// The mistake.
        problem: Problem,
    },
    /// Several mistakes in a spec (each line with a parse or name error), in source order.
    #[error("{} errors in {}", total, path.display())]
    Specs {
        /// The file.
        path: PathBuf,
        /// Its text.
        src: String,
        /// The first [`MOST_SHOWN`] mistakes.
        problems: Vec<Problem>,
        /// How many there are in all.
        total: usize,
    },
    /// A derivation that could not be completed.
    #[error("{}: {error}", path.display())]
    Derive {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: DeriveError,
    },
    /// A check that could not be completed.
    #[error("{}: {error}", path.display())]
    Check {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: CheckError,
    },
    /// A usage mistake not caught by the argument parser.
    #[error("{0}")]
    Usage(String),
    /// The engine disagrees with formulas proved for all sizes (status 1: what was
    /// asked for is done, and the engine is wrong).
    #[error("{0}")]
    Engine(String),
    /// A file that could not be written.
    #[error("cannot write {}: {why}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

impl Error {
    /// The exit status: 2 for bad input or usage, 3 for a bug in symconv.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Check { error: CheckError::Bug(_), .. } => 3,
            Error::Engine(_) => 1,
            _ => 2,
        }
    }
}

/// What a command prints, and its exit status.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Standard output.
    pub stdout: String,
    /// The specs of a batch that could not be done, each to be told on standard error
    /// by [`diagnostic`]; the others are done all the same.
    pub errors: Vec<Error>,
    /// The worst status: 3 for a bug in symconv, 2 for bad input, 1 when a claim or a run
    /// fails, 0 when everything holds.
    pub code: i32,
}

impl Outcome {
    /// Records a spec done: status 1 at least when it does not hold.
    fn done(&mut self, holds: bool) {
        if !holds {
            self.code = self.code.max(1);
        }
    }

    /// Records a spec that could not be done, and its status.
    fn failed(&mut self, e: Error) {
        self.code = self.code.max(e.exit_code());
        self.errors.push(e);
    }
}

/// A spec's name as reports give it: its file's stem.
fn spec_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Reads, parses and resolves one spec.
pub fn load(path: &Path, sizes: Option<&Sizes>) -> Result<crate::model::Model, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::Read { path: path.to_path_buf(), why: e.to_string() })?;
    load_bytes(path, bytes, sizes)
}

/// Parses and resolves one spec's bytes, read from `path`. Every line with a parse or
/// name error is reported (see [`Error::Specs`]); a `--let` naming no size of a spec
/// that parses is a usage error.
pub fn load_bytes(path: &Path, bytes: Vec<u8>, sizes: Option<&Sizes>) -> Result<crate::model::Model, Error> {
    let read_err = |why: String| Error::Read { path: path.to_path_buf(), why };
    let src = String::from_utf8(bytes).map_err(|e| {
        read_err(format!("it is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()))
    })?;
    if let Some(at) = src.find('\0') {
        return Err(read_err(format!("it is a binary file, not a spec (a NUL byte at offset {at})")));
    }
    let (spec, parse_errors) = syntax::parse_recovering(&src);
    let mut problems: Vec<Problem> = (parse_errors.into_iter())
        .map(|e| Problem { span: e.span, message: format!("expected {}", e.expected), hint: e.hint })
        .collect();
    if problems.is_empty() {
        check_let_flag(path, &spec, sizes)?;
    }
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let overrides = sizes.map(|s| s.0.as_slice()).unwrap_or_default();
    match model::resolve(&spec, &src, &name, overrides) {
        Ok(model) if problems.is_empty() => return Ok(model),
        Ok(_) => {}
        Err(errors) => {
            problems.extend(errors.into_iter().map(|e| Problem { span: e.span, message: e.message, hint: e.hint }))
        }
    }
    Err(spec_error(path, src, problems))
}

/// The error for a spec's mistakes: one, or several in source order.
fn spec_error(path: &Path, src: String, mut problems: Vec<Problem>) -> Error {
    problems.sort_by_key(|p| p.span.start);
    let path = path.to_path_buf();
    match problems.len() {
        1 => Error::Spec { path, src, problem: problems.remove(0) },
        total => {
            problems.truncate(MOST_SHOWN);
            Error::Specs { path, src, problems, total }
        }
    }
}

/// A usage error when `--let` names a size that the spec does not have.
fn check_let_flag(path: &Path, spec: &syntax::Spec, sizes: Option<&Sizes>) -> Result<(), Error> {
    let names = model::size_names(spec);
    let Some((n, v)) = sizes.and_then(|s| s.0.iter().find(|(n, _)| !names.contains(n))) else {
        return Ok(());
    };
    let has = match names.is_empty() {
        true => "it has no sizes".to_string(),
        false => format!("its sizes are {}", names.join(", ")),
    };
    Err(Error::Usage(format!("--let {n}={v}: `{}` has no size `{n}` ({has})", path.display())))
}

fn analyse(path: &Path, sizes: Option<&Sizes>, tables: bool, runs: RunArgs) -> Result<Report, Error> {
    analyse_model(path, load(path, sizes)?, tables, runs.into())
}

/// Derives and checks a loaded spec (`path` names it in errors): the whole report, with
/// the tables when asked.
pub fn analyse_model(path: &Path, model: crate::model::Model, tables: bool, runs: RunOptions) -> Result<Report, Error> {
    let derivation = derive::derive(&model, &Limits::default())
        .map_err(|error| Error::Derive { path: path.to_path_buf(), error })?;
    let check_err = check_error(path, &model);
    check::report(model, derivation, tables, runs).map_err(check_err)
}

/// Turns a check's error into the command's. Sizes that make no sense for the spec (an
/// empty output or tensor) point at the definition, whose domain they empty; a run past a
/// limit points at its line.
fn check_error(path: &Path, model: &crate::model::Model) -> impl Fn(CheckError) -> Error {
    let (path, src, span) = (path.to_path_buf(), model.source.clone(), model.definition_span);
    move |error| match error {
        CheckError::Sizes(message) => Error::Spec {
            path: path.clone(),
            src: src.clone(),
            problem: Problem {
                span,
                message,
                hint: Some(
                    "choose sizes (in `let`, or with --let) that leave every tensor and the output non-empty".into(),
                ),
            },
        },
        CheckError::RunLimit { span, message } => Error::Spec {
            path: path.clone(),
            src: src.clone(),
            problem: Problem {
                span,
                message,
                hint: Some("choose smaller sizes with --let, or a smaller padding, stride or dilation".into()),
            },
        },
        error => Error::Check { path: path.clone(), error },
    }
}

/// Runs a command to completion; nothing is printed here. In a batch every spec is done:
/// one that cannot be is in [`Outcome::errors`] (and, as JSON or JUnit, in the output).
pub fn run(cli: Cli) -> Result<Outcome, Error> {
    match cli.command {
        Command::Derive { specs, format, sizes, runs, brief } => {
            derive_specs(&specs, format, sizes.as_ref(), runs, brief)
        }
        Command::Table { spec, wrt, format, sizes, at } => table(&spec, &wrt, format, sizes.as_ref(), &at),
        Command::Check { specs, sizes, sweep, runs, format } => {
            Ok(check_specs(&specs, sizes.as_ref(), sweep.as_ref(), runs, format))
        }
        Command::Docs { specs, out, force } => docs(&specs, &out, force),
        Command::New { call, sizes } => new_spec(&call, sizes.as_ref()),
    }
}

/// `docs`: every spec's page and pictures, and the index, written into `dir`; nothing is
/// written when a spec could not be done, or when a file there that `docs` did not write
/// would be overwritten without `force` (see [`render::docs::written_by_docs`]). The status is 1 when a spec does not hold.
fn docs(specs: &[PathBuf], dir: &Path, force: bool) -> Result<Outcome, Error> {
    distinct_pages(specs)?;
    let mut out = Outcome::default();
    let analysed = each_spec(specs, true, |path| analyse_model(path, load(path, None)?, true, RunOptions::default()));
    let mut reports = Vec::new();
    for report in analysed {
        match report {
            Ok(r) => {
                out.done(r.holds());
                reports.push(r);
            }
            Err(e) => out.failed(e),
        }
    }
    if !out.errors.is_empty() {
        let (count, total) = (out.errors.len(), specs.len());
        let why = if count == 1 { "has an error" } else { "have errors" };
        out.failed(Error::Usage(format!("nothing was written to {}: {count} of {total} specs {why}", dir.display())));
        return Ok(out);
    }
    let files = render::docs::files(&reports);
    write_docs(dir, &files, force)?;
    let pages = if reports.len() == 1 { "1 page".to_string() } else { format!("{} pages", reports.len()) };
    out.stdout = format!("wrote {} files to {}: index.md, {pages} and their pictures\n", files.len(), dir.display());
    for r in reports.iter().filter(|r| !r.holds()) {
        out.stdout += &format!("{} does not hold: see {}\n", r.model.name, render::docs::page_name(&r.model.name));
    }
    Ok(out)
}

/// A usage error when two specs would have the same page, or one would be the index.
fn distinct_pages(specs: &[PathBuf]) -> Result<(), Error> {
    for (k, path) in specs.iter().enumerate() {
        let page = render::docs::page_name(&spec_name(path));
        if page == "index.md" {
            return Err(Error::Usage(format!(
                "{}: its page would be index.md, the list of the specs; rename the spec",
                path.display()
            )));
        }
        if let Some(other) = specs[..k].iter().find(|p| spec_name(p) == spec_name(path)) {
            return Err(Error::Usage(format!(
                "{} and {} would both be written as {page}; rename one, or give a spec once",
                other.display(),
                path.display()
            )));
        }
    }
    Ok(())
}

/// Writes the docs' files into `dir` (made when it does not exist), after making sure
/// that none would overwrite a file that `docs` did not write, unless `force`. A file that already holds its text is
/// left as it is.
fn write_docs(dir: &Path, files: &[render::docs::DocFile], force: bool) -> Result<(), Error> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Usage(format!("--out {}: it is a file, not a folder", dir.display())));
    }
    let mut existing = Vec::new();
    for f in files {
        let path = dir.join(&f.name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::Read { path, why: e.to_string() }),
        };
        if let (Some(bytes), false) = (&bytes, force) {
            if !render::docs::written_by_docs(bytes) {
                return Err(Error::Usage(format!(
                    "{}: symconv docs did not write this file, so it does not overwrite it; move it away, or use --force",
                    path.display()
                )));
            }
        }
        existing.push(bytes);
    }
    let write_err = |path: PathBuf| move |e: std::io::Error| Error::Write { path, why: e.to_string() };
    std::fs::create_dir_all(dir).map_err(write_err(dir.to_path_buf()))?;
    for (f, bytes) in files.iter().zip(existing) {
        if bytes.as_deref() != Some(f.text.as_bytes()) {
            let path = dir.join(&f.name);
            std::fs::write(&path, &f.text).map_err(write_err(path.clone()))?;
        }
    }
    Ok(())
}

/// `new`: the spec written from the call, or the call's mistake pointed at.
fn new_spec(call: &str, sizes: Option<&Sizes>) -> Result<Outcome, Error> {
    use crate::scaffold::NewError;
    // The call is the source of its own mistakes; the spec written from it, of the others.
    let (path, spec_path) = (PathBuf::from("call"), PathBuf::from("the spec written from the call"));
    let written =
        crate::scaffold::new_spec(call, sizes.map(|s| s.0.as_slice()).unwrap_or_default()).map_err(|e| match e {
            NewError::Call(e) => Error::Spec {
                path,
                src: call.to_string(),
                problem: Problem { span: e.span, message: e.message, hint: e.hint },
            },
            NewError::Sizes(why) => Error::Usage(why),
            NewError::Derive(error) => Error::Derive { path: spec_path, error },
            NewError::Check(error) => Error::Check { path: spec_path, error },
        })?;
    let mut out = Outcome { stdout: written.spec, ..Outcome::default() };
    if let Some(why) = written.engine_disagrees {
        out.done(false);
        out.errors.push(Error::Engine(why));
    }
    Ok(out)
}

/// `derive`: every spec's report, or its error.
fn derive_specs(
    specs: &[PathBuf],
    format: DeriveFormat,
    sizes: Option<&Sizes>,
    runs: RunArgs,
    brief: bool,
) -> Result<Outcome, Error> {
    if brief && format == DeriveFormat::Json {
        return Err(Error::Usage("--brief shortens the text output: it does not go with --format json".into()));
    }
    let mut out = Outcome::default();
    // Each spec is rendered where it was analysed, beside the others.
    let rendered = each_spec(specs, true, |path| {
        let r = analyse(path, sizes, format == DeriveFormat::Text && !brief, runs)?;
        let shown = match (format, brief) {
            (DeriveFormat::Text, false) => render::derive_text(&r),
            (DeriveFormat::Text, true) => render::derive_brief(&r),
            (DeriveFormat::Json, _) => render::derive_json(&r),
        };
        Ok::<_, Error>((r.holds(), shown))
    });
    for (path, rendered) in specs.iter().zip(rendered) {
        match rendered {
            Ok((holds, shown)) => {
                out.done(holds);
                if !out.stdout.is_empty() && format == DeriveFormat::Text {
                    out.stdout.push('\n');
                }
                out.stdout += &shown;
            }
            Err(e) => {
                if format == DeriveFormat::Json {
                    let file = path.display().to_string();
                    let why = diagnostic(&e, false);
                    out.stdout += &render::error_json(&spec_name(path), &file, &why, &places(&e), e.exit_code());
                }
                out.failed(e);
            }
        }
    }
    Ok(out)
}

/// `table`: one Jacobian table, or the receptive fields of the outputs `at` (text only).
/// Only its own size limits it; it is checked against brute force of this Jacobian alone.
fn table(spec: &Path, wrt: &str, format: Format, sizes: Option<&Sizes>, at: &[Position]) -> Result<Outcome, Error> {
    if let (Some(p), false) = (at.first(), format == Format::Text) {
        let name = format.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
        return Err(Error::Usage(format!(
            "--at {}: receptive fields are printed as text only; --format {name} prints every entry, without --at",
            p.text
        )));
    }
    let model = load(spec, sizes)?;
    if model.tensor(wrt).is_none() {
        let names: Vec<&str> = model.tensors.iter().map(|t| t.name.as_str()).collect();
        return Err(Error::Usage(format!(
            "--wrt {wrt}: `{}` has no input or weight `{wrt}` (it has {})",
            spec.display(),
            names.join(", ")
        )));
    }
    let derivation = derive::derive(&model, &Limits::default())
        .map_err(|error| Error::Derive { path: spec.to_path_buf(), error })?;
    let table = check::checked_table(&model, &derivation, wrt, &model.values).map_err(check_error(spec, &model))?;
    if at.is_empty() {
        return Ok(Outcome { stdout: render::table(&table, format.into()), ..Outcome::default() });
    }
    let rows =
        at.iter().map(|p| table.output_row(&p.indices).map_err(|why| Error::Usage(format!("--at {}: {why}", p.text))));
    let rows = rows.collect::<Result<Vec<usize>, Error>>()?;
    Ok(Outcome { stdout: render::receptive_fields_text(&table, &rows), ..Outcome::default() })
}

/// `check`: every spec's line, JSON object or JUnit test suite, or its error.
fn check_specs(
    specs: &[PathBuf],
    sizes: Option<&Sizes>,
    sweep: Option<&Ranges>,
    runs: RunArgs,
    format: CheckFormat,
) -> Outcome {
    let mut out = Outcome::default();
    let mut suites = Vec::new();
    // A sweep uses every core already, and shows its own progress bar.
    let reports = each_spec(specs, sweep.is_none(), |path| check_one(path, sizes, sweep, runs));
    for (path, report) in specs.iter().zip(reports) {
        let file = path.display().to_string();
        match report {
            Ok((r, swept)) => {
                out.done(r.holds() && swept.as_ref().is_none_or(|s| s.failures.is_empty()));
                match format {
                    CheckFormat::Text => {
                        out.stdout += &render::check_line(&r);
                        if let Some(s) = &swept {
                            out.stdout += &render::sweep_line(&r.model.name, s);
                        }
                    }
                    CheckFormat::Json => out.stdout += &render::check_json(&r, &file, swept.as_ref()),
                    CheckFormat::Junit => suites.push(render::junit_suite(&r, swept.as_ref())),
                }
            }
            Err(e) => {
                let why = diagnostic(&e, false);
                match format {
                    CheckFormat::Text => {}
                    CheckFormat::Json => {
                        out.stdout += &render::error_json(&spec_name(path), &file, &why, &places(&e), e.exit_code())
                    }
                    CheckFormat::Junit => suites.push(render::junit_error_suite(&spec_name(path), &why)),
                }
                out.failed(e);
            }
        }
    }
    if format == CheckFormat::Junit {
        out.stdout = render::junit(&suites);
    }
    out
}

/// `job` on every spec, in `parallel` on as many threads as there are cores (the specs
/// are independent); the results in the specs' order.
fn each_spec<T: Send>(specs: &[PathBuf], parallel: bool, job: impl Fn(&Path) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, specs.len().max(1));
    if threads == 1 || !parallel {
        return specs.iter().map(|p| job(p)).collect();
    }
    let job = &job;
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    specs.iter().enumerate().skip(t).step_by(threads).map(|(k, p)| (k, job(p))).collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    done.sort_by_key(|(k, _)| *k);
    done.into_iter().map(|(_, r)| r).collect()
}

/// One spec of `check`: its report, and its sweep when asked.
fn check_one(
    path: &Path,
    sizes: Option<&Sizes>,
    sweep: Option<&Ranges>,
    runs: RunArgs,
) -> Result<(Report, Option<SweepReport>), Error> {
    let r = analyse(path, sizes, false, runs)?;
    let swept = match sweep {
        None => None,
        Some(Ranges(ranges)) => {
            Some(sweep_with_progress(&r, ranges).map_err(|error| Error::Check { path: path.to_path_buf(), error })?)
        }
    };
    Ok((r, swept))
}

/// A sweep, with a progress bar on standard error when that is a terminal.
fn sweep_with_progress(r: &Report, ranges: &[SizeRange]) -> Result<SweepReport, CheckError> {
    let count = check::box_size(ranges.iter().map(|r| (r.lo, r.hi)));
    let bar = match std::io::stderr().is_terminal() && count <= r.derivation.limits.sweep_size_sets {
        true => indicatif::ProgressBar::new(count).with_message(format!("sweeping {}", r.model.name)),
        false => indicatif::ProgressBar::hidden(),
    };
    let result = check::sweep_check(&r.model, &r.derivation, &r.claims, ranges, &|| bar.inc(1));
    bar.finish_and_clear();
    result
}

/// Each mistake of a spec error as data: its message, 1-based line and column, and hint
/// (none for an error without a place in the spec).
pub fn places(e: &Error) -> Vec<render::Place> {
    let place = |src: &str, p: &Problem| {
        let (line, column) = line_col(src, p.span.start);
        render::Place { message: p.message.clone(), line, column, hint: p.hint.clone() }
    };
    match e {
        Error::Spec { src, problem, .. } => vec![place(src, problem)],
        Error::Specs { src, problems, .. } => problems.iter().map(|p| place(src, p)).collect(),
        _ => Vec::new(),
    }
}

/// The error as the user sees it: for a spec mistake, the file, line and column, the
/// source line with the span marked, and a hint; for several, each of them in source
/// order, then how many there are.
pub fn diagnostic(e: &Error, color: bool) -> String {
    match e {
        Error::Spec { path, src, problem } => problem_diagnostic(path, src, problem, color),
        Error::Specs { path, src, problems, total } => {
            let mut out: String = problems.iter().map(|p| problem_diagnostic(path, src, p, color)).collect();
            if *total > problems.len() {
                out += &format!("… and {} more errors\n", total - problems.len());
            }
            out + &format!("error: {e}\n")
        }
        _ => format!("error: {e}\n"),
    }
}

/// One mistake in `src`, read from `path`, as [`diagnostic`] shows it.
fn problem_diagnostic(path: &Path, src: &str, problem: &Problem, color: bool) -> String {
    use ariadne::{Config, IndexType, Label, Report, ReportKind, Source};
    let Problem { span, message, hint } = problem;
    let name = path.display().to_string();
    let start = span.start.min(src.len());
    let end = span.end.clamp(start, src.len());
    let (line, col) = line_col(src, start);
    let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
    if line_end - line_start > LONGEST_SHOWN_LINE {
        let place = format!("{name}:{line}:{col}");
        return long_line_diagnostic(problem, &place, &src[line_start..line_end], start - line_start);
    }
    let mut report = Report::build(ReportKind::Error, (name.as_str(), start..end))
        .with_config(Config::default().with_color(color).with_index_type(IndexType::Byte))
        .with_message(format!("{message} ({name}:{line}:{col})"))
        .with_label(Label::new((name.as_str(), start..end)).with_message(message));
    if let Some(h) = hint {
        report = report.with_help(h);
    }
    let mut out = Vec::new();
    let written = report.finish().write((name.as_str(), Source::from(src)), &mut out);
    match written {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => format!("error: {name}:{line}:{col}: {message}\n"),
    }
}

/// Lines longer than this (in bytes) are shown as an excerpt around the mistake.
const LONGEST_SHOWN_LINE: usize = 400;

/// A diagnostic for a mistake (at `place`, `file:line:col`) in a very long line: the
/// excerpt around it and a marker.
fn long_line_diagnostic(problem: &Problem, place: &str, text: &str, at: usize) -> String {
    let Problem { message, hint, .. } = problem;
    let mut from = at.saturating_sub(60);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (at + 60).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    let marker = text[from..at].chars().count() + 3;
    let mut out = format!("Error: {message} ({place})\n  …{}…\n{}^\n", &text[from..to], " ".repeat(marker));
    if let Some(h) = hint {
        out += &format!("  Help: {h}\n");
    }
    out
}

pub use crate::syntax::line_col;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_sizes("n=64, k=5"), Ok(Sizes(vec![("n".into(), 64), ("k".into(), 5)])));
        assert!(parse_sizes("n").is_err());
        assert!(parse_sizes("n=-1").is_err());
    }

    #[test]
    fn positions_parse() {
        let p = parse_position("i=1, j=-2").unwrap();
        assert_eq!((p.text.as_str(), p.indices), ("i=1, j=-2", vec![("i".into(), 1), ("j".into(), -2)]));
        assert!(parse_position("i").is_err());
        assert!(parse_position("i=x").is_err());
        assert!(parse_position(",").is_err());
    }

    #[test]
    fn ranges_parse() {
        let r = parse_ranges("n=1..32, k=1..8,S=2").unwrap().0;
        assert_eq!(r[0], SizeRange { name: "n".into(), lo: 1, hi: 32 });
        assert_eq!(r[2], SizeRange { name: "S".into(), lo: 2, hi: 2 });
        assert!(parse_ranges("n=1..x").is_err());
        assert!(parse_ranges("n").is_err());
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("Σx", 2), (1, 2));
    }
}
