// A SQLite VFS that hands a transaction's write-ahead log frames to the kernel
// in one write.
//
// SQLite appends each frame of a commit to the -wal file with two pwrites (a
// 24-byte header, then the page), so a group commit that changes 200 pages
// costs 400 syscalls before its fdatasync. This VFS wraps the default one:
// writes to a -wal file that follow each other are gathered in memory and
// written with one pwrite once the commit frame's page is in (and before any
// read, sync, truncate, size query or close of that file, or a write
// elsewhere in it). Everything else is the default VFS's own.
//
// Durability is unchanged: a commit's frames reach the kernel before the
// xWrite of its last page returns, which is before SQLite publishes the
// commit in the shared wal-index (so another connection, such as sqlite3 on
// the live file, never reads a frame the kernel has not got), and before its
// fsync.
#pragma once

namespace meetingd {

/// The name to pass to sqlite3_open_v2. Registers the VFS on first use.
const char* wal_batching_vfs();

} // namespace meetingd
