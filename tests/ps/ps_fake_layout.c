/*
 * ps_fake_layout - not taskring: a process that exports a taskring_debug descriptor of a layout
 * version no taskring-ps reads (999), for ps_layout_version. Prints READY and waits.
 */
#include "debug_layout.h"

#include <stdio.h>
#include <unistd.h>

__attribute__((visibility("default"), used)) const struct tr_debug_descriptor taskring_debug = {
    .magic = TR_DEBUG_MAGIC,
    .version = 999,
    .size = sizeof(struct tr_debug_descriptor),
    .pointer_size = sizeof(void *),
};

int main(void) {
    printf("READY pid=%d version=%u\n", (int)getpid(), taskring_debug.version);
    fflush(stdout);
    for (;;)
        pause();
}
