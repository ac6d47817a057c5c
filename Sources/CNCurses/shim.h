#define NCURSES_WIDECHAR 1
#define _XOPEN_SOURCE_EXTENDED 1
#include <locale.h>
#include <ncursesw/curses.h>

/* ncurses' globals as functions: Swift 6 refuses to read mutable C globals directly. */
static inline WINDOW *clipscope_stdscr(void) { return stdscr; }
static inline WINDOW *clipscope_curscr(void) { return curscr; }
static inline int clipscope_lines(void) { return LINES; }
static inline int clipscope_cols(void) { return COLS; }
