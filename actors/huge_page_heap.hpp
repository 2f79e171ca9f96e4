// Puts the C heap on transparent huge pages by restarting the process image
// once with glibc's `glibc.malloc.hugetlb=1` tunable, which glibc reads only
// at exec.
//
// Why: recovering 100k meetings allocates ~200 MB in small pieces, and on
// 4 KiB pages half of the restart's samples were malloc growing the heap and
// faulting it in. With 2 MiB pages the restart took 1.83 s instead of 2.41 s
// (median of five; 1.41 s against 1.72 s once the store stopped building a
// map per meeting); at 10k meetings the restart of the image costs about
// 60 ms more than it saves (docs/benchmarks.md, "Recovery").
//
// Nothing happens if the tunable is already set (the restarted image, or an
// operator's own choice), if MEETINGD_HUGE_PAGE_HEAP=0, or if the kernel
// has transparent huge pages turned off. The PID, the process name, open
// files and the rest of the environment stay the same.
#pragma once

namespace meetingd {

/// Returns only if the process goes on as it is (exec failed or not needed).
void restart_with_huge_page_heap(char** argv);

/// Whether this process runs with glibc's huge-page heap tunable (any
/// glibc.malloc.hugetlb setting but 0).
bool heap_on_huge_pages();

} // namespace meetingd
