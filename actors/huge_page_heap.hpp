// Puts the C heap on transparent huge pages by restarting the process image
// once with glibc's `glibc.malloc.hugetlb=1` tunable, which glibc reads only
// at exec.
//
// Why: recovering many meetings allocates hundreds of MB in small pieces,
// and on 4 KiB pages much of a restart went to malloc growing the heap and
// faulting it in; 2 MiB pages cut that down. The measurements, and where
// the image's restart costs more than it saves, are in docs/benchmarks.md
// ("Recovery").
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
