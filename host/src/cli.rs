//! The command line, as clap definitions. It is turned into a validated
//! config by the command modules before any I/O; the man page and shell
//! completions are generated from these same definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::engine::sync::Limit;

/// poof: snapshot backups of a few folders, with a sandboxed, auditable core.
///
/// poof makes a remote copy of each configured folder equal to the folder
/// (new, changed and deleted files alike), and restores it the same way.
/// Where snapshots go is set in poof.conf: an S3 bucket (s3://BUCKET[/PREFIX],
/// or a section of the cloud config file, as in poof 1.x) or a local folder
/// (file:///media/usb/poof). Content and names can be encrypted on this
/// machine (poof econfig, poof cryptoggle).
#[derive(Debug, Parser)]
#[command(name = "poof", version, propagate_version = true, max_term_width = 100)]
#[command(after_help = "Exit codes: 0 success, 1 some files or paths failed, \
2 configuration or usage error, 3 refused by a safety rule.")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// poof's config folder [default on Linux: $XDG_CONFIG_HOME/poof, else
    /// ~/.config/poof; on macOS (never run there, not supported):
    /// ~/Library/Application Support/poof; with --portable: the binary's
    /// folder]. `poof paths` prints it. E.g. --confdir /media/usb/poof-config,
    /// or POOF_CONFDIR=/media/usb/poof-config
    #[arg(long, global = true, value_name = "DIR", env = "POOF_CONFDIR")]
    pub confdir: Option<PathBuf>,

    /// The poof.conf file to use [default: CONFDIR/poof.conf]. E.g.
    /// --poofconf ~/work/poof.conf
    #[arg(long, global = true, value_name = "FILE")]
    pub poofconf: Option<PathBuf>,

    /// The cloud config file (poof 1.x's rclone-poof.conf) [default:
    /// CONFDIR/rclone-poof.conf]. E.g. --cloudconf ~/.config/rclone/rclone.conf
    #[arg(long, global = true, value_name = "FILE", visible_alias = "rcloneconf")]
    pub cloudconf: Option<PathBuf>,

    /// The AWS profile that S3 credentials, region and endpoint come from:
    /// [NAME] of ~/.aws/credentials, [profile NAME] of ~/.aws/config
    /// [default: AWS_PROFILE, else default]. As with the AWS CLI's
    /// --profile, AWS_ACCESS_KEY_ID is then not used; an s3:// remote skips
    /// the cloud config file. E.g. poof --profile backup verify
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Read the encryption passphrase from FILE (one trailing newline is
    /// stripped). Without it, poof tries --passphrase-command, then the file
    /// named by POOF_PASSPHRASE_FILE, then POOF_PASSPHRASE, then asks. E.g.
    /// --passphrase-file ~/.config/poof/passphrase
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    /// Run CMD with `sh -c` and read the encryption passphrase from its
    /// output (one trailing newline is stripped). It gets no input; its
    /// output is never shown; poof stops it after 120 s. E.g.
    /// --passphrase-command 'pass show poof'
    #[arg(
        long,
        global = true,
        value_name = "CMD",
        conflicts_with = "passphrase_file"
    )]
    pub passphrase_command: Option<String>,

    /// Accept an encrypted folder whose manifest is missing, does not open,
    /// or is older than the one this machine last wrote or accepted (poof
    /// refuses such a folder otherwise: a provider could have rolled it
    /// back). For a bucket you restored from an old copy on purpose, or a
    /// new machine facing a folder without a manifest. E.g. poof
    /// --trust-remote download --dry-run
    #[arg(long, global = true)]
    pub trust_remote: bool,

    /// Say what each action did (-v); twice (-vv), also detail such as
    /// each request and the plan's internals (on stderr). E.g. poof -v
    /// backup, or poof -vv backup 2> detail.txt
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print only warnings and errors. E.g. poof -q backup
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Print one JSON object per line on stdout instead of text: a sync's
    /// plan, each file copied or deleted, each path's result and the
    /// summary, and so on for every command; warnings and errors too (also
    /// on stderr). docs/JSON.md lists every event. There is no progress
    /// event. E.g. poof --json backup --dry-run | jq 'select(.event == "plan")',
    /// or POOF_JSON=1 poof backup
    #[arg(long, global = true, env = "POOF_JSON", value_parser = clap::builder::BoolishValueParser::new())]
    pub json: bool,

    /// Also write every message (results, warnings, errors; each action with
    /// -v) to FILE, each line stamped with the time (RFC 3339, UTC) and its
    /// level, appended. E.g. --log-file ~/poof.log -v, or
    /// POOF_LOG_FILE=~/poof.log
    #[arg(long, global = true, value_name = "FILE", env = "POOF_LOG_FILE")]
    pub log_file: Option<PathBuf>,

    /// Rotate the log file before it grows past SIZE: it becomes FILE.1, the
    /// older ones FILE.2 and on [default: off]. SIZE is a number with a
    /// suffix B, K, M or G (base 1024); a bare number is KiB, as rclone's
    /// sizes. E.g. --log-file ~/poof.log --log-file-max-size 5M, or
    /// POOF_LOG_FILE_MAX_SIZE=5M
    #[arg(long, global = true, value_name = "SIZE", env = "POOF_LOG_FILE_MAX_SIZE", value_parser = crate::knobs::parse_size)]
    pub log_file_max_size: Option<u64>,

    /// How many rotated log files to keep (0: all) [default: 0]. E.g.
    /// --log-file-max-size 5M --log-file-max-backups 3, or
    /// POOF_LOG_FILE_MAX_BACKUPS=3
    #[arg(
        long,
        global = true,
        value_name = "N",
        env = "POOF_LOG_FILE_MAX_BACKUPS"
    )]
    pub log_file_max_backups: Option<usize>,

    /// Draw the progress bar (on stderr) even when it is not a terminal, or
    /// with --quiet or --json [default: only on a terminal]. E.g. poof
    /// --progress --json backup > events.json, or POOF_PROGRESS=1
    #[arg(long, global = true, env = "POOF_PROGRESS", value_parser = clap::builder::BoolishValueParser::new(), overrides_with = "no_progress")]
    pub progress: bool,

    /// Never draw the progress bar, even on a terminal. E.g. poof
    /// --no-progress backup
    #[arg(long, global = true, overrides_with = "progress")]
    pub no_progress: bool,

    /// Limit the bandwidth of uploads and downloads, all transfers together,
    /// to RATE per second: a number with a suffix B, K, M or G (bytes, KiB,
    /// MiB, GiB: 10M, 512k, 1.5M); a bare number is KiB, as in rclone; 0 or
    /// off: no limit [default: off]. E.g. --bwlimit 2M, or POOF_BWLIMIT=512k
    #[arg(long, global = true, value_name = "RATE", env = "POOF_BWLIMIT", value_parser = crate::knobs::parse_rate)]
    pub bwlimit: Option<crate::knobs::Rate>,

    /// How many listings, metadata and header reads to run at once. E.g.
    /// --checkers 16, or POOF_CHECKERS=16
    #[arg(long, global = true, value_name = "N", env = "POOF_CHECKERS", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub checkers: u16,

    /// Keep every file poof uses in the binary's folder (a USB stick) and
    /// write nothing under the home; on by itself when a poof.conf sits
    /// beside the binary. E.g. /media/usb/poof --portable config
    #[arg(long, global = true)]
    pub portable: bool,
}

/// poof's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make the remote copy of every configured folder equal to the folder.
    ///
    /// New and changed files are copied, with their modification time and
    /// permissions; files deleted locally are deleted remotely. Local files
    /// are never touched. A folder that does not exist is skipped with a
    /// warning and its remote copy is kept.
    #[command(
        after_help = "Example:\n  poof backup --dry-run    # show what would change\n  poof backup\n  poof backup --exclude '*.tmp' --exclude 'node_modules/' --dry-run"
    )]
    Backup(BackupArgs),

    /// Make every configured folder equal to its remote copy (destructive),
    /// or restore it into another folder (--to, deletes nothing).
    ///
    /// Files missing locally are restored, changed ones are replaced, and
    /// local files that the remote copy does not have are DELETED. Each file
    /// is written under a temporary name and renamed into place, and nothing
    /// is deleted on a path after any error on it. With filters, only the
    /// files they select are restored or deleted: a restore of a subset
    /// touches nothing outside it. With --to, each path is restored into
    /// DIR/CLOUDDIR (with --path, into DIR itself) and nothing there is
    /// deleted; files of the same name are replaced.
    #[command(
        after_help = "Example:\n  poof download --dry-run  # show what would change\n  poof download\n  \
poof download --include '/notes/todo.txt'   # restore one file, delete nothing else\n  \
poof download --to /tmp/restore --dry-run   # what would land in /tmp/restore/CLOUDDIR\n  \
poof download --to /tmp/restore             # every path, into /tmp/restore/CLOUDDIR\n  \
poof download --path Documents              # only the path kept in the cloud folder Documents\n  \
poof download --path Documents --to ~/old-docs --include '/taxes/**'"
    )]
    Download(DownloadArgs),

    /// List what the remote holds: size, modification time and name of each
    /// file, decrypted on an encrypted remote.
    ///
    /// Without an argument: one line per configured path (its cloud folder,
    /// files, total size, newest time, local folder). With CLOUDDIR (a
    /// configured path's cloud folder, as `poof ls` prints it): every file of
    /// that path, sorted, as `SIZE YYYY-MM-DD HH:MM:SS.NNNNNNNNN PATH` (UTC,
    /// like `rclone lsl`); with CLOUDDIR/SUBPATH only that file or the files
    /// under that folder. Paths are relative to CLOUDDIR, as --include takes
    /// them. An encrypted folder is trusted as download trusts it. Changes
    /// nothing.
    #[command(
        after_help = "Example:\n  poof ls                        # one line per configured path\n  \
poof ls Documents              # every file of the path kept in Documents\n  \
poof ls Documents/taxes/2024   # only that folder\n  \
poof --json ls Documents | jq -r 'select(.event == \"file\") | .path'"
    )]
    Ls(LsArgs),

    /// Back up, verify every file by reading its copy back, then wipe the local folders.
    ///
    /// Runs a backup that deletes nothing remotely (like `rclone move`: a
    /// remote file may be the only copy of one an earlier upload wiped);
    /// then, for every folder whose backup completed, reads
    /// each file's remote copy back and compares its SHA-256 with the local
    /// file, and removes only the files that matched (never through a
    /// symbolic link, never across a file system boundary; the configured
    /// folder itself stays). Every file kept is named with the reason, and
    /// the exit code is then 1. Files the filters leave out are neither
    /// copied nor verified nor wiped. When poof's own config folder is one of the
    /// paths and everything succeeded, poof ends with `neuter`.
    #[command(
        after_help = "Example:\n  poof upload --dry-run    # show what would be copied\n  poof upload\n  poof upload --shred --keep-binary\n  poof upload --exclude 'keep-here/'   # excluded files are neither copied nor wiped",
        // upload never deletes remotely: not offered (and refused when given).
        mut_arg("delete_excluded", |a| a.hide(true))
    )]
    Upload(UploadArgs),

    /// Remove poof from this machine: its schedule entries, its config files,
    /// its logs, and its own binary.
    ///
    /// Only poof's own files are removed; anything else found in the config
    /// folder is left and named. In portable mode only what poof put on the
    /// host (schedule entries) goes, and what stays on the stick is named.
    /// After an upload that ended partially, neuter refuses (exit code 3)
    /// unless --yes.
    #[command(
        after_help = "Example:\n  poof neuter --dry-run\n  poof neuter --keep-binary\n  poof neuter --yes   # after a partial upload"
    )]
    Neuter(NeuterArgs),

    /// Install, remove or show an unattended `poof backup` (cron, systemd user timer; launchd for macOS, never run there: not supported).
    ///
    /// Scheduled runs log to CONFDIR/poof.log (see `poof paths`), each line
    /// time-stamped, with -q and --log-file; the file is rotated at 5 MiB
    /// and the three before it are kept (poof.log.1 to poof.log.3). `neuter`
    /// removes them.
    #[command(
        subcommand,
        after_help = "Example:\n  poof schedule install --every 6h\n  poof schedule status\n  poof schedule remove"
    )]
    Schedule(ScheduleCommand),

    /// poof 1.x's name for `poof schedule install`.
    #[command(
        after_help = "Example:\n  poof lconfig --every 6h\n  poof lconfig --kind cron --dry-run"
    )]
    Lconfig(ScheduleInstallArgs),

    /// poof 1.x's name for `poof schedule remove`.
    #[command(after_help = "Example:\n  poof lpurge\n  poof lpurge --kind cron --dry-run")]
    Lpurge(ScheduleKindArgs),

    /// Create poof.conf from a scaffold if it is missing, and print it.
    ///
    /// The scaffold has a unique bucket name (poofbackup-USER-xxxxxxxxxxxx),
    /// the remote poof-backup (a section of the cloud config file), and a
    /// placeholder path (BOGUS-...) to replace with the folders to back up;
    /// poof verify refuses it until then. poof's own config folder is not
    /// among the paths (it holds your keys) unless --with-config-folder.
    #[command(
        after_help = "Example:\n  poof config\n  poof config --show-secrets\n  poof config --with-config-folder   # back up poof's config folder too, as poof 1.x did"
    )]
    Config(ConfigArgs),

    /// Create the cloud config file (rclone-poof.conf) from a scaffold if it
    /// is missing, and print it with secrets redacted.
    ///
    /// The scaffold has one S3 section, poof-backup, with placeholder
    /// credentials (BOGUS-...) that poof refuses until you fill them in.
    #[command(after_help = "Example:\n  poof cconfig\n  poof cconfig --show-secrets")]
    Cconfig(ShowArgs),

    /// Set up encryption: create a key and wrap it with a passphrase.
    ///
    /// Creates a random master key, wraps it with a key derived from your
    /// passphrase (Argon2id), and keeps the wrapped key in CONFDIR/poof.key
    /// and in the remote (.poof/key). When only the remote holds it (a new
    /// machine), it is copied here once the passphrase opens it. The
    /// passphrase comes from --passphrase-file, --passphrase-command,
    /// POOF_PASSPHRASE_FILE, POOF_PASSPHRASE, or a prompt (asked twice for a
    /// new one); a new one that is easy to guess gets a warning. Then run
    /// `poof cryptoggle`.
    #[command(
        after_help = "Example:\n  poof econfig --dry-run\n  poof econfig\n  poof econfig --change-passphrase\n  \
poof econfig --change-passphrase --new-passphrase-file ~/new-passphrase\n  \
poof econfig --rotate --dry-run"
    )]
    Econfig(EconfigArgs),

    /// Switch the remote between the plain and the encrypted layout.
    ///
    /// Sets "encrypted" in poof.conf. The next backup uploads every file
    /// again under the other layout; the old layout's objects stay in the
    /// remote until you remove them. When switching to encrypted,
    /// --purge-plain backs up at once and removes the plain copies that
    /// are proved equal to their encrypted ones.
    #[command(
        after_help = "Example:\n  poof cryptoggle --dry-run\n  poof cryptoggle\n  \
poof cryptoggle --purge-plain --dry-run   # which plain copies would go\n  \
poof cryptoggle --purge-plain"
    )]
    Cryptoggle(CryptoggleArgs),

    /// Compare every folder with its remote copy by content, and report the differences.
    ///
    /// Reads every remote file back in full and compares SHA-256 with the
    /// local file; changes nothing. Exit code 0 when everything matches, 1
    /// when something differs or could not be read. With --quick, compares
    /// sizes and the SHA-256 recorded with each copy instead of reading it.
    /// Files the filters leave out (the flags, poof.conf's "exclude", the
    /// .poofignore at the root of each configured folder, as for backup) are
    /// compared on neither side.
    #[command(
        after_help = "Example:\n  poof check\n  poof check --quick   # stored hashes and sizes, no download\n  poof check --exclude '*.tmp'\n  poof --json check | jq 'select(.event == \"difference\")'",
        // check deletes nothing: not offered (and refused when given).
        mut_arg("delete_excluded", |a| a.hide(true))
    )]
    Check(CheckArgs),

    /// Move poof 1.x's encrypted tree (rclone crypt) to poof's own encrypted format.
    ///
    /// For a poof.conf whose `remote` names an rclone crypt section: copies
    /// every file of every path into poof's encrypted format (the key from
    /// `poof econfig`) in the bucket the crypt section wraps, reads each new
    /// copy back and compares it, then switches poof.conf to it (`remote`
    /// the S3 section, `bucket`, "encrypted": true). If interrupted, run it
    /// again: it continues. The old copies stay unless --delete-old is given.
    #[command(
        after_help = "Example:\n  poof econfig\n  poof migrate --dry-run\n  poof migrate\n  poof migrate --delete-old"
    )]
    Migrate(MigrateArgs),

    /// Check the configuration, the credentials and the remote, and say what is wrong.
    ///
    /// Changes nothing, except that --create-bucket creates a missing
    /// bucket. Exit code 0 when poof is ready, 2 when a config file is
    /// wrong, 1 when the remote cannot be reached.
    #[command(
        after_help = "Example:\n  poof verify\n  poof verify --create-bucket   # create the bucket if it does not exist\n  poof --profile backup verify"
    )]
    Verify(VerifyArgs),

    /// Print every file and folder poof may create on this machine.
    #[command(after_help = "Example:\n  poof paths")]
    Paths,

    /// Print shell completions for bash, zsh or fish.
    #[command(
        after_help = "Example:\n  poof completions bash > ~/.local/share/bash-completion/completions/poof"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },

    /// Print the man page, poof(1), in roff.
    #[command(after_help = "Example:\n  poof man | man -l -")]
    Man,

    /// Print poof's version, build target and the SHA-256 of its guest.
    #[command(after_help = "Example:\n  poof version")]
    Version,

    /// For auditors: inspect the embedded guest component.
    #[command(subcommand)]
    Guest(GuestCommand),
}

/// Flags of `poof check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// How many files to compare at once. E.g. --transfers 16, or
    /// POOF_TRANSFERS=16
    #[arg(long, value_name = "N", env = "POOF_TRANSFERS", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256), help_heading = None::<&str>)]
    pub transfers: u16,

    /// Compare sizes and the SHA-256 recorded with each copy when it was
    /// stored (an encrypted object's header, a plain S3 object's metadata),
    /// without downloading the copies. It cannot see a copy whose bytes no
    /// longer match what was recorded (damage, tampering): plain check reads
    /// them. A plain folder remote records no hash: its copies are read.
    #[arg(long, help_heading = None::<&str>)]
    pub quick: bool,

    /// Which files to leave out: the same rules as backup's, so that what a
    /// backup leaves out is not reported missing. Files left out are
    /// compared on neither side.
    // --delete-excluded is hidden here (the `Check` variant) and refused.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Flags of `poof migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Say how many files each path would copy, and change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Once every file of a path was copied and its new copy read back equal
    /// to the old one, delete the path's rclone crypt objects.
    #[arg(long)]
    pub delete_old: bool,

    /// Go ahead even when a path's plan would overwrite more than half of the
    /// new copies already made (the default guard). E.g. poof migrate --yes
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// How many files to migrate at once. E.g. --transfers 16, or
    /// POOF_TRANSFERS=16
    #[arg(long, value_name = "N", env = "POOF_TRANSFERS", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub transfers: u16,
}

/// Flags of `poof verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Create the bucket when it does not exist (like `aws s3 mb` or
    /// `rclone mkdir`) and say so; an existing bucket is left alone and
    /// reported. It is created in the section's location_constraint (without
    /// one: on AWS in the region, elsewhere where the server puts it), with
    /// its bucket_acl (else acl). S3 remotes only.
    #[arg(long)]
    pub create_bucket: bool,
}

/// Flags of `poof config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print secrets too.
    #[command(flatten)]
    pub show: ShowArgs,

    /// When creating poof.conf, put poof's own config folder among its
    /// paths, as poof 1.x did. The folder holds your cloud keys (and the
    /// wrapped encryption key), so its remote copy holds them too; an
    /// upload that wipes it ends with `poof neuter`.
    #[arg(long)]
    pub with_config_folder: bool,
}

/// Flags of the commands that print a config file.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Print secrets too, instead of `<redacted>`.
    #[arg(long)]
    pub show_secrets: bool,
}

/// Flags of `poof econfig`.
#[derive(Debug, Args)]
pub struct EconfigArgs {
    /// Say what would be created or rewrapped, and change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Rewrap the key with a new passphrase (asked twice, or from
    /// --new-passphrase-file or POOF_NEW_PASSPHRASE); nothing is uploaded again.
    #[arg(long)]
    pub change_passphrase: bool,

    /// Read the new passphrase from FILE (with --change-passphrase).
    #[arg(long, value_name = "FILE", requires = "change_passphrase")]
    pub new_passphrase_file: Option<PathBuf>,

    /// Replace the master key: make a new one (wrapped with the same
    /// passphrase), re-encrypt every object of every path under it, reading
    /// each back before its old object is deleted, then replace both copies
    /// of the key. Takes about as long as a full download plus a full
    /// upload; if interrupted, run it again to continue. With --dry-run,
    /// say how many files each path would re-encrypt.
    #[arg(long, conflicts_with = "change_passphrase")]
    pub rotate: bool,
}

/// Flags of `poof cryptoggle`.
#[derive(Debug, Args)]
pub struct CryptoggleArgs {
    /// Say what would change, and change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Only when switching to encrypted: after the switch, back up every
    /// path encrypted, read each plain object back in full with its
    /// encrypted copy, and delete a path's plain objects (and plain
    /// manifest) when every one of them has the SHA-256 of its encrypted
    /// copy. A path where anything differs, is missing or cannot be read
    /// keeps all its plain objects, is named with the reasons, and the exit
    /// code is 1.
    #[arg(long)]
    pub purge_plain: bool,
}

/// Flags shared by the commands that sync.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Print the plan and change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Go ahead even when a path's plan deletes more than half of its copy's
    /// files, or all of them, or (backup, upload) overwrites more than half
    /// of them (the default guards). Does not lift --max-delete or
    /// --max-overwrite. E.g. --dry-run first, then --yes
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Refuse a path whose plan deletes more than N files, or more than N% of
    /// them. Replaces the default guard. E.g. --max-delete 100, or
    /// --max-delete 10%
    #[arg(long, value_name = "N|N%", value_parser = parse_limit)]
    pub max_delete: Option<Limit>,

    /// Compare files by content (SHA-256 of both sides) instead of size and
    /// modification time. Slower: every local file is read, and every remote
    /// file's recorded hash is looked up (an encrypted copy's header, a plain
    /// S3 object's metadata; a folder remote's copy is read back). A copy
    /// with no recorded hash (rclone wrote it) counts as changed. E.g.
    /// --checksum --dry-run
    #[arg(short = 'c', long)]
    pub checksum: bool,

    /// How many files to transfer at once. E.g. --transfers 16, or
    /// POOF_TRANSFERS=16
    #[arg(long, value_name = "N", env = "POOF_TRANSFERS", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub transfers: u16,

    /// Which files to leave out.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// The filter flags of backup, upload and download: rclone's rules and
/// patterns (docs/USAGE.md, "Filters"). A file left out is neither copied
/// nor deleted, on either side. poof.conf's "exclude" of a path and the
/// `.poofignore` file at the root of its folder add exclude patterns.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Filters (rclone's rules and patterns)")]
pub struct FilterArgs {
    /// Leave out files matching PATTERN: `*` matches within a name, `**`
    /// across folders, `?` one character, `[a-z]` and `{a,b}` as in a
    /// shell; a leading `/` anchors at the folder's root, a trailing `/`
    /// matches folders. Repeatable. E.g. --exclude '*.tmp' --exclude 'node_modules/'
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,

    /// Keep only files matching PATTERN (or another --include): everything
    /// else is left out. Includes are tried before excludes. Repeatable.
    /// E.g. --include '/taxes/2024/**'
    #[arg(long, value_name = "PATTERN")]
    pub include: Vec<String>,

    /// Read exclude patterns from FILE, one a line; lines starting with `#`
    /// or `;` are comments. A .poofignore file at the root of each
    /// configured folder (not in its subfolders) is read the same way, for
    /// that folder. E.g. --exclude-from ~/.config/poof/exclude.txt
    #[arg(long, value_name = "FILE")]
    pub exclude_from: Vec<PathBuf>,

    /// Read filter rules from FILE, one a line: `- PATTERN` excludes,
    /// `+ PATTERN` includes, `!` forgets the rules above; the first rule
    /// that matches a file decides. E.g. --filter-from ~/.config/poof/rules.txt
    #[arg(long, value_name = "FILE")]
    pub filter_from: Vec<PathBuf>,

    /// Also delete the target's files that the filters leave out (they are
    /// kept otherwise): the copy's on backup, this machine's on download.
    /// Not with download --to, which deletes nothing. E.g. --exclude '*.iso'
    /// --delete-excluded
    #[arg(long)]
    pub delete_excluded: bool,
}

/// Flags of `poof download`: the sync flags, and where to restore.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The flags shared with backup.
    #[command(flatten)]
    pub sync: SyncArgs,

    /// Restore into DIR instead of the configured folders, deleting nothing
    /// there: each path into DIR/CLOUDDIR, or with --path into DIR itself
    /// (created if missing). Files of the same name are replaced. E.g.
    /// --to /tmp/restore
    // After the flattened `FilterArgs`: name the heading (none).
    #[arg(long, value_name = "DIR", help_heading = None::<&str>)]
    pub to: Option<PathBuf>,

    /// Only the configured path whose cloud folder is CLOUDDIR (as `poof ls`
    /// lists them). E.g. --path Documents
    #[arg(long, value_name = "CLOUDDIR", help_heading = None::<&str>)]
    pub path: Option<String>,
}

/// Flags of `poof ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// A configured path's cloud folder, optionally followed by `/` and a
    /// file or folder in it [default: a summary of every path].
    #[arg(value_name = "CLOUDDIR[/SUBPATH]")]
    pub target: Option<String>,
}

/// Flags of `poof backup`: the sync flags, and the guard on overwrites.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The flags shared with download.
    #[command(flatten)]
    pub sync: SyncArgs,

    /// Refuse a path whose plan overwrites more than N of the files its copy
    /// holds, or more than N% of them. Replaces the default guard: more than
    /// half of them, and more than 3 (a mass rewrite, as ransomware does,
    /// would replace the only copy). E.g. --max-overwrite 100, or
    /// --max-overwrite 10%
    // The flags after a flattened `FilterArgs` name their heading (none),
    // or they would be shown under its heading.
    #[arg(long, value_name = "N|N%", value_parser = parse_limit, help_heading = None::<&str>)]
    pub max_overwrite: Option<Limit>,
}

/// Flags of `poof upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The backup's flags.
    #[command(flatten)]
    pub backup: BackupArgs,

    /// How each copy is checked before its local file is wiped: `read` reads
    /// the whole copy back; `stored` only compares the SHA-256 stored with
    /// the object at upload (S3; a folder remote reads back anyway). E.g.
    /// --verify stored
    #[arg(long, value_enum, default_value_t = VerifyMode::Read, value_name = "HOW", help_heading = None::<&str>)]
    pub verify: VerifyMode,

    /// Overwrite each file with zeros before unlinking it. Best effort, and
    /// useless on SSDs, copy-on-write and journaling file systems: see docs/WIPE.md.
    #[arg(long, help_heading = None::<&str>)]
    pub shred: bool,

    /// When upload ends with a neuter, keep the poof binary.
    #[arg(long, help_heading = None::<&str>)]
    pub keep_binary: bool,
}

/// How `upload` checks a remote copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyMode {
    /// Read the whole copy back and hash it.
    Read,
    /// Compare with the SHA-256 stored with the object (weaker: it proves
    /// what was sent, not what is stored now).
    Stored,
}

/// Flags of `poof neuter`.
#[derive(Debug, Args)]
pub struct NeuterArgs {
    /// Keep the poof binary.
    #[arg(long)]
    pub keep_binary: bool,

    /// Neuter even though the last upload ended partially.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Print what would be removed and remove nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

/// `poof schedule` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Install (or replace) an unattended `poof backup`.
    ///
    /// With "encrypted": true, give the passphrase's source with
    /// --passphrase-file or --passphrase-command (or POOF_PASSPHRASE_FILE):
    /// it is written into the job (the passphrase itself never is), and
    /// poof refuses without one.
    #[command(
        after_help = "Example:\n  poof schedule install --every 6h\n  poof schedule install --kind cron --every 30m\n  poof schedule install --dry-run   # show the entry, install nothing\n  poof --passphrase-file ~/.config/poof/passphrase schedule install"
    )]
    Install(ScheduleInstallArgs),
    /// Remove the unattended run (every kind unless --kind).
    #[command(
        after_help = "Example:\n  poof schedule remove\n  poof schedule remove --kind cron --dry-run"
    )]
    Remove(ScheduleKindArgs),
    /// Show which unattended runs are installed.
    #[command(
        after_help = "Example:\n  poof schedule status\n  poof schedule status --kind systemd",
        // status changes nothing: --dry-run (remove's) is not offered.
        mut_arg("dry_run", |a| a.hide(true))
    )]
    Status(ScheduleKindArgs),
}

/// Flags of `poof schedule install`.
#[derive(Debug, Args)]
pub struct ScheduleInstallArgs {
    /// How often: minutes, hours or days (30m, 6h, 1d).
    #[arg(long, value_name = "INTERVAL", default_value = "6h", value_parser = crate::schedule::parse_every)]
    pub every: crate::schedule::Every,

    /// The scheduler [default: launchd on macOS (never run there: not supported), systemd where it runs, else cron].
    #[arg(long, value_enum)]
    pub kind: Option<crate::schedule::Kind>,

    /// Print what would be installed and change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

/// Flags of `poof schedule remove` and `status`.
#[derive(Debug, Args)]
pub struct ScheduleKindArgs {
    /// Only this scheduler [default: every kind].
    #[arg(long, value_enum)]
    pub kind: Option<crate::schedule::Kind>,

    /// Print what would be removed and change nothing (remove only).
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

/// Parses `--max-delete` and `--max-overwrite`: a count (`100`) or a percentage (`10%`).
fn parse_limit(s: &str) -> Result<Limit, String> {
    let bad = || format!("{s:?} is not a count (like 100) or a percentage (like 10%)");
    match s.strip_suffix('%') {
        Some(p) => match p.trim().parse::<u8>() {
            Ok(p) if p <= 100 => Ok(Limit::Percent(p)),
            _ => Err(bad()),
        },
        None => s.trim().parse::<u64>().map(Limit::Count).map_err(|_| bad()),
    }
}

/// `poof guest` subcommands.
#[derive(Debug, Subcommand)]
pub enum GuestCommand {
    /// Print the SHA-256 of the embedded guest component.
    #[command(after_help = "Example:\n  poof guest hash")]
    Hash,
    /// Write the exact embedded guest component to FILE.
    #[command(
        after_help = "Example:\n  poof guest export poof-guest.wasm && sha256sum poof-guest.wasm"
    )]
    Export {
        /// Where to write the component; an existing file is not overwritten.
        file: PathBuf,
    },
    /// Compile the embedded guest here and check that the precompiled copy
    /// embedded beside it is byte-identical, so that what runs is what was audited.
    #[command(after_help = "Example:\n  poof guest verify")]
    Verify,
    /// Write the embedded guest compiled for this machine (used by the build).
    #[command(hide = true)]
    Precompile {
        /// Where to write it.
        file: PathBuf,
    },
    /// Print the WIT contract between host and guest.
    #[command(after_help = "Example:\n  poof guest wit")]
    Wit,
    /// Let the guest try to read a file, read the environment and open a
    /// socket, and show that every attempt fails.
    #[command(
        after_help = "Example:\n  poof guest probe\n  poof guest probe --read ~/.ssh/id_ed25519 --connect 127.0.0.1:443"
    )]
    Probe {
        /// A file the guest tries to read.
        #[arg(long, default_value = "/etc/passwd")]
        read: String,
        /// An address the guest tries to connect to.
        #[arg(long, default_value = "127.0.0.1:22")]
        connect: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn delete_excluded_is_offered_only_where_it_deletes() {
        let mut cli = super::Cli::command();
        let mut help = |cmd: &str| {
            cli.find_subcommand_mut(cmd)
                .unwrap()
                .render_long_help()
                .to_string()
        };
        for cmd in ["backup", "download"] {
            assert!(help(cmd).contains("--delete-excluded"), "{cmd}");
        }
        for cmd in ["check", "upload"] {
            let text = help(cmd);
            assert!(!text.contains("--delete-excluded"), "{cmd}: {text}");
            assert!(text.contains("--exclude-from"), "{cmd}: {text}");
        }
    }

    /// True when `text` has `flag` as a whole word (not `--exclude` in
    /// `--exclude-from`).
    fn names(text: &str, flag: &str) -> bool {
        text.match_indices(flag).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + flag.len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '-')
                && !after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
        })
    }

    /// Every argument of every command has an example: an `E.g.` in its
    /// help that shows the flag, or the flag in its command's `Example:`
    /// block (a positional argument: a line of that block giving the
    /// command a value); an argument a `POOF_*` variable can give shows
    /// that form too (`POOF_X=...`).
    #[test]
    fn every_argument_has_an_example() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let examples = cmd
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || id == "help" || id == "version" {
                    continue;
                }
                let help = [arg.get_help(), arg.get_long_help()]
                    .into_iter()
                    .flatten()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(" ");
                let eg = help.split_once("E.g.").map_or("", |(_, e)| e);
                let spellings: Vec<String> = arg
                    .get_long()
                    .map(|l| format!("--{l}"))
                    .into_iter()
                    .chain(arg.get_short().map(|c| format!("-{c}")))
                    .collect();
                let shown = if arg.is_positional() {
                    let name = cmd.get_name();
                    examples.lines().any(|l| {
                        l.split_whitespace()
                            .skip_while(|w| *w != name)
                            .nth(1)
                            .is_some_and(|w| !w.starts_with('-') && !w.starts_with('#'))
                    })
                } else {
                    spellings
                        .iter()
                        .any(|f| names(eg, f) || names(&examples, f))
                };
                if !shown {
                    missing.push(format!("{path} {}", spellings.first().map_or(id, |s| s)));
                }
                if let Some(var) = arg.get_env() {
                    let form = format!("{}=", var.to_string_lossy());
                    if !eg.contains(&form) && !examples.contains(&form) {
                        missing.push(format!("{path} {form}"));
                    }
                }
            }
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                if sub.get_name() != "help" {
                    walk(sub, &format!("{path} {}", sub.get_name()), missing);
                }
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "poof", &mut missing);
        assert!(missing.is_empty(), "no example for: {missing:#?}");
    }

    #[test]
    fn limits_take_counts_and_percentages() {
        use super::{Limit, parse_limit};
        assert!(matches!(parse_limit("100"), Ok(Limit::Count(100))));
        assert!(matches!(parse_limit("10%"), Ok(Limit::Percent(10))));
        for bad in ["", "-1", "101%", "ten", "5.5%"] {
            let err = parse_limit(bad).unwrap_err();
            assert!(
                err.contains("is not a count (like 100) or a percentage (like 10%)"),
                "{err}"
            );
        }
    }
}
