// The write-gathering VFS (see sqlite_wal_writes.hpp).
#include "persistence/sqlite_wal_writes.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace meetingd {

namespace {

constexpr const char* vfs_name = "meetingd-wal";
/// A frame header in the -wal file: bytes 4..7 hold the database's size in
/// pages for the last frame of a commit, 0 otherwise (sqlite.org/fileformat2.html).
constexpr int frame_header_bytes = 24;
/// A transaction larger than this is written before its commit.
constexpr std::size_t max_gathered = 4 << 20;
/// The default VFS writes at most 128 KiB - 1 bytes per pwrite (its
/// seekAndWriteFd masks the length with 0x1ffff: a 128 KiB write would
/// write nothing and be reported as a full disk).
constexpr std::size_t max_write = 0x1ffff & ~std::size_t{4095};

sqlite3_vfs* default_vfs = nullptr;

/// The -wal file as SQLite sees it; the default VFS's own file object
/// follows it in the same allocation.
struct wal_file {
  sqlite3_file base;
  sqlite3_file* real;
  std::vector<char> gathered;
  sqlite3_int64 gathered_at;
  /// Inside a commit's last frame (and its padding): written through.
  bool committing;
};

std::size_t wal_file_offset() {
  return (sizeof(wal_file) + 7) & ~std::size_t{7};
}

wal_file* wal(sqlite3_file* file) {
  return reinterpret_cast<wal_file*>(file);
}

int flush(wal_file* f) {
  if (f->gathered.empty())
    return SQLITE_OK;
  int rc = SQLITE_OK;
  for (std::size_t done = 0; done < f->gathered.size() && rc == SQLITE_OK;) {
    auto n = std::min(max_write, f->gathered.size() - done);
    rc = f->real->pMethods->xWrite(f->real, f->gathered.data() + done, static_cast<int>(n),
                                   f->gathered_at + static_cast<sqlite3_int64>(done));
    done += n;
  }
  f->gathered.clear();
  return rc;
}

bool is_commit_header(const void* data, int amount) {
  if (amount != frame_header_bytes)
    return false;
  auto* bytes = static_cast<const unsigned char*>(data);
  return (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
}

int wal_close(sqlite3_file* file) {
  auto* f = wal(file);
  int flushed = flush(f);
  int rc = f->real->pMethods->xClose(f->real);
  f->gathered.~vector();
  return flushed != SQLITE_OK ? flushed : rc;
}

int wal_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  auto* f = wal(file);
  if (int rc = flush(f); rc != SQLITE_OK)
    return rc;
  return f->real->pMethods->xRead(f->real, out, amount, offset);
}

int wal_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  auto* f = wal(file);
  bool header = amount == frame_header_bytes;
  if (header)
    f->committing = is_commit_header(data, amount);
  if (!f->gathered.empty()
      && offset != f->gathered_at + static_cast<sqlite3_int64>(f->gathered.size()))
    if (int rc = flush(f); rc != SQLITE_OK)
      return rc;
  if (f->gathered.empty())
    f->gathered_at = offset;
  auto* bytes = static_cast<const char*>(data);
  f->gathered.insert(f->gathered.end(), bytes, bytes + amount);
  // The commit's last page is in: the whole transaction goes to the kernel
  // now, before SQLite makes it visible to readers and before its fsync.
  if ((f->committing && !header) || f->gathered.size() >= max_gathered)
    return flush(f);
  return SQLITE_OK;
}

int wal_truncate(sqlite3_file* file, sqlite3_int64 size) {
  auto* f = wal(file);
  if (int rc = flush(f); rc != SQLITE_OK)
    return rc;
  return f->real->pMethods->xTruncate(f->real, size);
}

int wal_sync(sqlite3_file* file, int flags) {
  auto* f = wal(file);
  if (int rc = flush(f); rc != SQLITE_OK)
    return rc;
  return f->real->pMethods->xSync(f->real, flags);
}

int wal_file_size(sqlite3_file* file, sqlite3_int64* size) {
  auto* f = wal(file);
  if (int rc = flush(f); rc != SQLITE_OK)
    return rc;
  return f->real->pMethods->xFileSize(f->real, size);
}

int wal_lock(sqlite3_file* file, int level) {
  auto* real = wal(file)->real;
  return real->pMethods->xLock(real, level);
}

int wal_unlock(sqlite3_file* file, int level) {
  auto* real = wal(file)->real;
  return real->pMethods->xUnlock(real, level);
}

int wal_check_reserved_lock(sqlite3_file* file, int* out) {
  auto* real = wal(file)->real;
  return real->pMethods->xCheckReservedLock(real, out);
}

int wal_file_control(sqlite3_file* file, int op, void* arg) {
  auto* f = wal(file);
  if (int rc = flush(f); rc != SQLITE_OK)
    return rc;
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

int wal_sector_size(sqlite3_file* file) {
  auto* real = wal(file)->real;
  return real->pMethods->xSectorSize(real);
}

int wal_device_characteristics(sqlite3_file* file) {
  auto* real = wal(file)->real;
  return real->pMethods->xDeviceCharacteristics(real);
}

// SQLite keeps the wal-index in the database file's shared memory, not the
// log's, and maps no log pages; these exist for a complete version 3 object.
int wal_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  auto* real = wal(file)->real;
  return real->pMethods->xShmMap(real, region, size, extend, out);
}

int wal_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  auto* real = wal(file)->real;
  return real->pMethods->xShmLock(real, offset, n, flags);
}

void wal_shm_barrier(sqlite3_file* file) {
  auto* real = wal(file)->real;
  real->pMethods->xShmBarrier(real);
}

int wal_shm_unmap(sqlite3_file* file, int delete_flag) {
  auto* real = wal(file)->real;
  return real->pMethods->xShmUnmap(real, delete_flag);
}

int wal_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  auto* f = wal(file);
  if (int rc = flush(f); rc != SQLITE_OK)
    return rc;
  return f->real->pMethods->xFetch(f->real, offset, amount, out);
}

int wal_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  auto* real = wal(file)->real;
  return real->pMethods->xUnfetch(real, offset, page);
}

const sqlite3_io_methods wal_methods = {
  3,
  wal_close,
  wal_read,
  wal_write,
  wal_truncate,
  wal_sync,
  wal_file_size,
  wal_lock,
  wal_unlock,
  wal_check_reserved_lock,
  wal_file_control,
  wal_sector_size,
  wal_device_characteristics,
  wal_shm_map,
  wal_shm_lock,
  wal_shm_barrier,
  wal_shm_unmap,
  wal_fetch,
  wal_unfetch,
};

int open_file(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  // Every file but the log is the default VFS's, in the same memory.
  if ((flags & SQLITE_OPEN_WAL) == 0)
    return default_vfs->xOpen(default_vfs, name, file, flags, out_flags);
  auto* f = wal(file);
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + wal_file_offset());
  int rc = default_vfs->xOpen(default_vfs, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (f->real->pMethods)
      f->real->pMethods->xClose(f->real);
    return rc;
  }
  // The default VFS's files are version 3 on every platform meetingd runs
  // on; an older one would lack the calls passed through above.
  if (f->real->pMethods->iVersion < 3) {
    f->real->pMethods->xClose(f->real);
    return SQLITE_CANTOPEN;
  }
  new (&f->gathered) std::vector<char>();
  f->gathered_at = 0;
  f->committing = false;
  f->base.pMethods = &wal_methods;
  return SQLITE_OK;
}

sqlite3_vfs make_vfs() {
  sqlite3_vfs vfs = *default_vfs;
  vfs.pNext = nullptr;
  vfs.zName = vfs_name;
  vfs.szOsFile = static_cast<int>(wal_file_offset()) + default_vfs->szOsFile;
  vfs.pAppData = nullptr;
  vfs.xOpen = open_file;
  // The remaining calls take the VFS itself: forward to the default one.
  vfs.xDelete = [](sqlite3_vfs*, const char* name, int sync) {
    return default_vfs->xDelete(default_vfs, name, sync);
  };
  vfs.xAccess = [](sqlite3_vfs*, const char* name, int flags, int* out) {
    return default_vfs->xAccess(default_vfs, name, flags, out);
  };
  vfs.xFullPathname = [](sqlite3_vfs*, const char* name, int n, char* out) {
    return default_vfs->xFullPathname(default_vfs, name, n, out);
  };
  vfs.xDlOpen = [](sqlite3_vfs*, const char* name) {
    return default_vfs->xDlOpen(default_vfs, name);
  };
  vfs.xDlError = [](sqlite3_vfs*, int n, char* out) {
    default_vfs->xDlError(default_vfs, n, out);
  };
  vfs.xDlSym = [](sqlite3_vfs*, void* handle, const char* symbol) {
    return default_vfs->xDlSym(default_vfs, handle, symbol);
  };
  vfs.xDlClose = [](sqlite3_vfs*, void* handle) {
    default_vfs->xDlClose(default_vfs, handle);
  };
  vfs.xRandomness = [](sqlite3_vfs*, int n, char* out) {
    return default_vfs->xRandomness(default_vfs, n, out);
  };
  vfs.xSleep = [](sqlite3_vfs*, int us) {
    return default_vfs->xSleep(default_vfs, us);
  };
  vfs.xCurrentTime = [](sqlite3_vfs*, double* out) {
    return default_vfs->xCurrentTime(default_vfs, out);
  };
  vfs.xGetLastError = [](sqlite3_vfs*, int n, char* out) {
    return default_vfs->xGetLastError(default_vfs, n, out);
  };
  vfs.xCurrentTimeInt64 = [](sqlite3_vfs*, sqlite3_int64* out) {
    return default_vfs->xCurrentTimeInt64(default_vfs, out);
  };
  vfs.xSetSystemCall = [](sqlite3_vfs*, const char* name, sqlite3_syscall_ptr call) {
    return default_vfs->xSetSystemCall(default_vfs, name, call);
  };
  vfs.xGetSystemCall = [](sqlite3_vfs*, const char* name) {
    return default_vfs->xGetSystemCall(default_vfs, name);
  };
  vfs.xNextSystemCall = [](sqlite3_vfs*, const char* name) {
    return default_vfs->xNextSystemCall(default_vfs, name);
  };
  return vfs;
}

} // namespace

const char* wal_batching_vfs() {
  static std::once_flag once;
  static sqlite3_vfs vfs;
  std::call_once(once, [] {
    default_vfs = sqlite3_vfs_find(nullptr);
    vfs = make_vfs();
    sqlite3_vfs_register(&vfs, 0);
  });
  return vfs_name;
}

} // namespace meetingd
