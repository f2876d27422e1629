/**
 * The help texts of the CLI: the whole help, the bare usage, and each
 * command's help with examples. The defaults they print come from the
 * engine's own constants.
 *
 * @module
 */

import { DEFAULTS } from "../lib/options.ts";
import { MIB } from "../lib/size.ts";
import { VERSION } from "../lib/version.ts";

/** The whole help (`ferry --help`). */
export const HELP = `ferry ${VERSION} — copy big media fast, and never lie about the result

Usage:
  ferry copy SRC... DST      copy files and directory trees (like cp -r)
  ferry move SRC... DST      move them (rename on the same file system)
  ferry offload SRC DEST...  copy SRC to every DEST at once, reading it once:
                             each copy verified, each DEST with its own ASC
                             MHL history (also: ferry copy SRC --to D --to D2)
  ferry apply [FILE|-]       run a JSON batch in the format of the copy tool
                             ferry replaces (from FILE, or stdin when FILE is
                             - or missing), or a plan file
  ferry plan SRC... DST --out PLAN
                             write the plan (every file and range with its id)
                             without copying; ferry apply PLAN runs it, here
                             or on other machines (--from BATCH.json, --move)
  ferry ls [PATH...]         list folders with frame sequences collapsed:
                             frames, missing and empty frames, sizes; a
                             pattern (sh010.####.exr) lists one sequence
  ferry apply PLAN --shard K/N
                             run one shard of a plan (a task of a farm's job
                             array; --shard auto reads Slurm's array); the
                             last shard to end finalizes the plan
  ferry finalize PLAN        publish the files split across shards, set the
                             folders' times, write the ASC MHL history once
  ferry farm slurm PLAN --shards N
                             write (--submit: sbatch) the array job of the
                             shards and the finalize job
  ferry status [BATCH_ID|PLAN]
                             what a batch did or is doing (the latest batch
                             without an id), from the ledger; --json
  ferry batches              the batches in the ledger, the latest first
  ferry resume [BATCH_ID|PLAN]
                             run an unfinished batch again (the latest one
                             without an id): what is published stays
  ferry undo BATCH_ID        take a batch back where its destinations are
                             still what it wrote (--dry-run: show how)
  ferry demo                 generate a sample shot in a temporary directory,
                             copy it with live progress, print the throughput
  ferry hash PATH...         print checksums as xxhsum/md5sum/sha1sum do
                             (check them with xxhsum -c)
  ferry verify DIR           re-hash DIR against its whole ASC MHL history
                             (each file against its first recorded hash),
                             report ok/mismatch/missing/new/unreadable, and
                             record the check (--no-record: do not)
  ferry verify DIR --against OTHER
                             compare two trees by hash (no MHL)

  A directory copied into an existing directory goes inside it; several
  sources need an existing directory as DST. A source may be a frame
  sequence: 'sh010.####.exr' (also %04d, $F4, @@@@, <UDIM>, [1001-1100],
  sh010.1001-1100#.exr); its frames go into DST, or are named by DST when
  DST is a pattern too.

Options:
      --concurrency MODE adaptive (default): start with 2 streams and add
                         streams while the measured rate rises, back off when
                         it does not (the counts below are then ceilings);
                         fixed: the counts below as they are. Giving a count
                         fixes it. The progress line shows the streams in use
  -w, --workers N        chunk workers: byte ranges copied at once (default ${DEFAULTS.maxWorkers})
  -j, --file-workers N   large (chunked) files in flight at once (default ${DEFAULTS.fileWorkers})
      --small-file-workers N
                         small files (below the cutoff) in flight (default ${DEFAULTS.smallFileWorkers})
      --chunk-size SIZE  fixed chunk size, e.g. 16MiB (default: from file size, 1-64 MiB)
      --cutoff SIZE      split files of this size or larger (default ${
  DEFAULTS.cutoffBytes / MIB
}MiB)
      --buffer-size SIZE each worker's copy buffer (default ${DEFAULTS.bufferBytes / MIB}MiB)
      --offload MODE     auto|never|always: let the kernel copy (copy_file_range:
                         reflinks, server-side copies); auto uses it when run
                         with --allow-ffi on Linux and falls back by itself
      --verify MODE      size (default): size check before publishing;
                         source: hash the source in flight, flush the copy
                         to storage, drop its cached pages, read it back and
                         hash it, publish only when they match; cache: the
                         same, read back from memory (faster, proves less)
      --hash ALG         xxh64 (default), xxh3, xxh128, md5, sha1 or c4
      --mhl              write an ASC MHL manifest into each destination root
      --no-record        ferry verify: check only, append no generation
      --no-space-check   copy even when the destination's free space is less
                         than the batch writes (the check needs
                         --allow-sys=statfs)
      --bwlimit RATE     at most RATE per second for the whole batch, e.g. 500M,
                         1.2G; or a timetable of local times, as rclone's:
                         '08:00,300M 20:00,off' (300 MiB/s by day, none at
                         night); SIGUSR1 lifts the limit, again puts it back
      --fsync            flush each copy and its directory to storage before
                         it counts as done (survives a power cut; slower on
                         local disks)

  Several destinations (ferry offload, ferry copy --to):
      --to DEST          (copy) another destination of the same read
      --cascade          copy to the first destination, then from it to the
                         others (the source is free once the first is done)
      --lag-buffer SIZE  how far a destination may fall behind the fastest
                         before it reads the source again (default ${DEFAULTS.lagBytes / MIB}MiB)
      --no-mhl           (offload) no ASC MHL history

  Existing destination files: one with the source's size and modification
  time is already there and is left alone (a move only removes its source);
  one that differs is left alone and reported (exit 1), unless
      --overwrite        replace destination files that differ
      --update           replace them only when the source is newer (cp -u,
                         rsync -u): a newer destination is never replaced
  -c, --checksum         compare the bytes of existing destinations (not
                         size and time); replace those that differ
      --skip-existing    leave every existing destination file alone, quietly

  Frame sequences (a pattern as source):
      --frames SET       only these frames: 1001-1100, 1001-1100x2, 1,5,10-20
      --sequence         a frame's path (sh010.1001.exr) means its whole sequence
      --renumber START   the first frame copied becomes START (spacing kept)
      --offset N         every frame number moves by N (may be negative)
      --rename PATTERN   a new name and padding in DST: 'sh010_v2.%04d.exr'
      --require-complete refuse the batch (exit 2, nothing written) when a
                         selected frame is missing or empty
      --allow-empty-frames  with --require-complete: empty frames are fine
  Include and exclude (rsync's order: the first rule that matches decides):
      --include GLOB     copy what matches (*, **, ?, [a-z]; matched on the
      --exclude GLOB     path below the source root; a rule ending in / is for
                         folders: --exclude cache/ skips the folder)

  -n, --dry-run          print the plan (files, chunks, bytes) and touch nothing
      --json             JSON lines on stdout: start, progress, file, summary
  -q, --quiet            no progress and no summary; failures are still printed
      --backup-dir DIR   keep each file a copy replaces (--overwrite, --update,
                         --checksum) under DIR/BATCH_ID/<its path>, for undo
      --batch-id ID      the batch's id in the ledger and the JSON events
                         (default: a new one, or the unfinished batch of
                         the same command)
      --ledger DIR       journal batches in DIR (default: $XDG_STATE_HOME/ferry,
                         else ~/.local/state/ferry)
      --no-ledger        journal nothing
      --ledger-days N    batches older than N days leave the ledger (default ${DEFAULTS.ledgerDays})
      --log FILE         append the --json events to FILE (also without --json)
      --report FILE      write a delivery report: FILE.html (one self-contained
                         page: verdict, folders and frame sequences with any
                         missing frames, every file with its digest, a
                         throughput chart) or FILE.csv (a row per file)
  -v, --verbose          a line per file on stderr as it finishes
      --progress         draw the live progress bar even when stderr is not a
                         terminal (it is drawn on a terminal for copies that
                         take more than a second)
  -r, --recursive        accepted for cp's sake: folders are always copied whole
  -a, --archive          also keep owner and group (as root), as cp -a does;
                         modes and modification times (of folders too) are
                         always kept
  -h, --help             this help
  -V, --version          the version

Exit codes: 0 all done · 1 some files failed · 2 usage or input error (nothing
touched) · 130 cancelled (temporary files removed).`;

/** What a bare `ferry` prints. */
export const USAGE = `ferry ${VERSION} — copy big media fast, and never lie about the result

  ferry copy SRC... DST    ferry move SRC... DST    ferry apply [FILE|-|PLAN]
  ferry offload SRC DEST...
  ferry plan SRC... DST --out PLAN   ferry apply PLAN --shard K/N
  ferry finalize PLAN      ferry farm slurm PLAN --shards N
  ferry verify DIR         ferry hash PATH...       ferry demo
  ferry ls [PATH...]
  ferry status [BATCH_ID]  ferry batches            ferry resume [BATCH_ID]
  ferry undo BATCH_ID

Run 'ferry help COMMAND' (or 'ferry COMMAND --help') for one command,
'ferry --help' for everything.`;

/** Each command's help, with examples. */
export const COMMAND_HELP: Record<string, string> = {
  copy: `ferry copy [OPTIONS] SRC... DST — copy files and folder trees (like cp -r)

  A source copied into an existing folder goes inside it; several sources
  need an existing folder. 'SRC/' (a folder with a trailing slash) means its
  contents, as rsync reads it: the copy of SRC is DST itself. -T: DST is the
  path the copy gets, whatever is there (cp -T). A DST that ends in '/' is a
  folder (made if missing). Existing identical files are skipped, so a rerun
  finishes an interrupted copy; differing ones are reported (exit 1).

  A frame sequence as SRC ('sh010.####.exr', see 'ferry help ls' for the
  grammar) copies its frames into DST, or names them by DST when DST is a
  pattern: the frames and holes are said first, one line per sequence at
  the end. --frames, --renumber, --offset, --rename, --require-complete,
  --allow-empty-frames; --include/--exclude filter trees.

Examples:
  ferry copy plates/sh010 /mnt/show/plates/          # → /mnt/show/plates/sh010
  ferry copy 'sh010.####.exr' /mnt/shuttle/sh010/ --frames 1001-1050 --renumber 1 --require-complete
  ferry copy 'sh010.%04d.exr' /mnt/out/sh010_v2.####.exr --offset -1000
  ferry copy plates/ /mnt/show/plates --include '*.exr' --exclude '*'   # only the EXRs
  ferry copy -T plates/sh010 /mnt/show/sh010_plates   # exactly that path
  ferry copy --verify source --mhl /mnt/card/A001 /mnt/raid/dailies/
  ferry copy --update renders/ /mnt/show/renders      # newer sources only

Options: see 'ferry --help' (workers, verification, ASC MHL, existing files).`,
  offload: `ferry offload [OPTIONS] SRC DEST... — one read, a verified copy in every DEST

  Every DEST gets a copy of SRC (a card folder, a file or a frame sequence):
  DEST is the path the copy gets; a DEST ending in '/' gets it inside. The
  source is read and hashed once and written to every DEST; each copy is
  read back and compared with the source's digest before it is published
  (--verify source is on by default here: --verify size turns it off), and
  each DEST gets its own ASC MHL history (on by default: --no-mhl).

  Each destination is a batch of its own: one that fails (full, unplugged,
  no permission) fails only its own files, and the others finish. A slow
  destination holds the others back by nothing: the fast ones go on, and
  the slow one writes from memory what they read, up to --lag-buffer
  (default ${DEFAULTS.lagBytes / MIB} MiB) behind; beyond that it reads the
  source again for what it missed (checked by its read-back as any byte).
  --cascade copies to the first DEST, then from it to the others, so the
  card can be ejected once the first verified copy exists. The summary and
  --json give each destination's files, bytes, rate, verified files and
  failures; the exit code is 1 when any destination failed.

Examples:
  ferry offload /media/card/A001 /raid/A001 /shuttle/A001
  ferry offload --cascade /media/card/A001 /raid/A001 /shuttle/A001 /lto/stage/
  ferry copy /media/card/A001 --to /raid/A001 --to /shuttle/A001   # no verify, no MHL
  echo '{"mappings":[{"src":"/media/card/A001","dst":["/raid/A001","/shuttle/A001"]}]}' | ferry apply -`,
  move: `ferry move [OPTIONS] SRC... DST — move files and folder trees

  A rename on one file system; across file systems each file is copied,
  verified and published, and only then its source is removed. Destinations
  are named as for 'ferry copy'. A move rerun after a crash finishes it.

Examples:
  ferry move render/v003 /mnt/archive/
  ferry move 'render/sh010.####.exr' /mnt/archive/sh010/ --frames 1001-1050
  ferry move --verify source /mnt/scratch/sh010 /mnt/show/sh010/`,
  apply: `ferry apply [OPTIONS] [FILE|-|PLAN] — run a JSON batch or a plan file

  Reads {"mappings": [{"src", "dst"}], "operation_type": "copy"|"move",
  "max_workers", "file_workers", "batch_id"} from FILE, or stdin when FILE
  is - or missing (at most 256 MiB). 'dst' is the path the copy of 'src'
  gets. Options on the command line override the batch's. A mapping's 'src'
  may be a frame sequence ("plates/sh010.####.exr") with "frames",
  "renumber", "offset" or "rename", its 'dst' a folder or a pattern; the
  batch may have "filters": ["+ *.exr", "- *"].

  A plan file (ferry plan) runs as it was planned: its files, ranges and
  settings; only --concurrency, --workers, --file-workers,
  --small-file-workers, --buffer-size and --offload may be given for this
  run. What is at the destinations is decided now; a source changed since
  the plan fails as source-changed. Every apply of a plan is a run of its
  batch, with its own journal: run it again to finish it, or on several
  machines at once.

  --shard K/N runs only the Kth of N disjoint shards of a plan (from 0),
  balanced by bytes; a file larger than a shard's share is split across
  shards, which write its ranges into one shared temporary. --shard auto
  takes K and N from Slurm's job array (SLURM_ARRAY_TASK_ID, _MIN, _COUNT);
  --shard auto/N takes K from SLURM_ARRAY_TASK_ID, CUE_IFRAME (OpenCue),
  JOB_COMPLETION_INDEX (Kubernetes) or FERRY_SHARD_INDEX. The shards journal
  into PLAN.ledger beside the plan (--ledger DIR: elsewhere; it must be on
  storage every node mounts). A shard run again continues from its journal.
  The last shard to end runs 'ferry finalize PLAN'.

Examples:
  ferry apply batch.json --json
  echo '{"mappings":[{"src":"/a","dst":"/b"}]}' | ferry apply -
  ferry apply /mnt/show/plans/sh010.plan --workers 16
  ferry apply /mnt/show/plans/sh010.plan --shard 2/8`,
  finalize: `ferry finalize [--json] [-v] [--ledger DIR] PLAN — finish a plan run in shards

  Once every shard's latest run has ended (done, or with failed files):
  publishes each file split across shards whose ranges are all journaled
  (its size and source checked; hashed, and with --verify source compared,
  where the plan hashes), gives the folders the shards created their
  source's modes and times (a move: removes emptied source folders), and
  writes each destination's ASC MHL generation once (--mhl plans). Safe to
  run twice, or twice at once: a plan finalized well is not finalized
  again. The last shard to end runs it by itself.

  Exit codes: 0 the whole plan is delivered · 1 files failed, or a shard has
  not ended (nothing done; the message says which) · 2 not a plan file.

Examples:
  ferry finalize /mnt/show/plans/sh010.plan`,
  farm: `ferry farm slurm [OPTIONS] PLAN --shards N — run a plan on a Slurm farm

  Writes PLAN.slurm/shards.sh (an array job of N tasks: task K runs
  'ferry apply PLAN --shard K/N') and PLAN.slurm/finalize.sh, and prints the
  sbatch commands; --submit runs them: the array, then the finalize job with
  --dependency=afterok on it (--kill-on-invalid-dep=yes: when a task fails,
  the finalize job is dropped; the failed shard run again with
  'sbatch --array=K PLAN.slurm/shards.sh' finalizes the plan when it ends).
  --partition P; --concurrency, --workers, --file-workers,
  --small-file-workers, --buffer-size and --offload go to every shard.
  Watch it with 'ferry status PLAN'. OpenCue, Deadline and Kubernetes: docs/farm.md.

Examples:
  ferry farm slurm sh010.plan --shards 16 --partition io --submit`,
  plan: `ferry plan [OPTIONS] [--move] SRC... DST --out PLAN — plan without copying
ferry plan [OPTIONS] --from BATCH.json --out PLAN

  Walks the sources and writes the plan into PLAN (an SQLite file): every
  folder and file with its id, size, mode and times, the byte ranges of the
  files copied in parallel, the mappings and every setting (the copy
  options, --batch-id). Nothing is written at the destination. The file
  appears under its name only once complete, and is never written again:
  any number of 'ferry apply PLAN' may read it at once. Destinations are
  named as for 'ferry copy'; --move plans a move; --from reads a JSON batch.

Examples:
  ferry plan --verify source --batch-id sh010 plates/sh010 /mnt/show/ --out sh010.plan
  ferry apply sh010.plan`,
  verify: `ferry verify [--no-record] [--hash ALG] DIR — check a delivery
ferry verify DIR --against OTHER — compare two trees by hash

  Re-hashes DIR against its whole ASC MHL history (each file against the hash
  first recorded for it), reports OK, MISMATCH, MISSING, NEW or UNREADABLE per
  file, and records the check as a new generation (--no-record: do not).
  Exit 0 when everything matches, 1 otherwise, 2 for a history it cannot trust.

Examples:
  ferry verify /mnt/show/dailies/A001
  ferry verify /mnt/show/dailies/A001 --against /mnt/card/A001`,
  ls: `ferry ls [--json] [PATH...] — list folders with frame sequences collapsed

  One line per sequence: its pattern, first-last frame, how many frames and
  bytes, the frames missing between the first and the last, and the frames
  that are empty files; other files with their size, folders with a /.
  The frame is the last number of a name (sh010_v003.1001.exr: 1001, so v002
  and v003 are different sequences); a leading zero shows the padding.
  A pattern lists that one sequence, and a pattern that names frames
  (sh010.1001-1100#.exr) says which of those are missing. One listing per
  folder and one stat per file, sixteen at once.

  Grammar: #### (one digit per #), # (4 digits), @@@ (one per @), %04d, %d,
  $F4, $F, <UDIM> (tiles 1001-1099), [1001-1050]; frame sets 1001-1100,
  1001-1100x2, 1,5,10-20, -10--1.

Examples:
  ferry ls /mnt/show/sh010/comp
  ferry ls '/mnt/show/sh010/comp/sh010_comp_v003.1001-1100#.exr'
  ferry ls --json renders/`,
  hash: `ferry hash [--hash ALG] PATH... — print checksums

  Prints lines that xxhsum -c, md5sum -c or sha1sum -c check (xxh64 by
  default; xxh3, xxh128, md5, sha1, c4). Folders are walked.

Examples:
  ferry hash --hash xxh128 plates/ > plates.xxh && xxhsum -c plates.xxh`,
  status: `ferry status [--json] [--ledger DIR] [BATCH_ID|PLAN] — what a batch did

  Every copy, move and apply is journaled in the ledger ($XDG_STATE_HOME/ferry,
  else ~/.local/state/ferry; --ledger DIR). status merges the journals of all
  runs of a batch (the latest batch without an id): its state (running, done,
  failed, cancelled, interrupted — killed, or its machine went down), files
  and bytes done of the total, each run's host, time and rate, and every
  failed file with its failure code. It reads while the batch runs. For a
  plan run in shards (PLAN.ledger beside it): each shard's latest run (state,
  host, bytes, rate) and the finalize.

Examples:
  ferry status
  ferry status delivery-42 --json`,
  batches: `ferry batches [--json] [--ledger DIR] — the batches in the ledger, latest first

  One line each: id, copy or move, state, when it last ran, files done of
  the total, bytes, host, number of runs. Batches leave the ledger after
  --ledger-days (default ${DEFAULTS.ledgerDays}) days (looked for at most once an hour).`,
  resume: `ferry resume [OPTIONS] [BATCH_ID|PLAN] — finish an unfinished batch

  Runs the batch again with the mappings and settings it was journaled with
  (the latest unfinished batch without an id), as another run of the same
  batch: files already published are left alone, the rest is copied. Running
  the same copy, move or apply command again does the same. Options given
  here override the journaled ones. Given a plan file, it runs the plan
  again (as 'ferry apply PLAN').

Examples:
  ferry resume
  ferry resume delivery-42 --workers 4`,
  undo: `ferry undo [--dry-run] [--json] [--ledger DIR] BATCH_ID — take a batch back

  From the batch's journals: every file it published is removed; a copy that
  replaced an earlier file is replaced by that file again where the batch kept
  it (--backup-dir); a moved file goes back to its source path (and its source
  folders come back with their mode and time); folders the batch created go
  when empty. Only where the destination is still exactly what the batch wrote
  (size, modification time, and digest where it hashed): anything changed
  since is left as it is and reported. Files that cannot be taken back (changed,
  or replaced without a backup) are listed before anything is done.
  --dry-run lists what undo would do and touches nothing.

  Exit codes: 0 all taken back · 1 some files left as they are, or a step
  failed · 2 unknown batch, or a run of it still going.

Examples:
  ferry undo delivery-42 --dry-run
  ferry undo delivery-42`,
  demo: `ferry demo [OPTIONS] — generate a sample shot in a temporary folder, copy it
with live progress, print the throughput, remove it.`,
};
