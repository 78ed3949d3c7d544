/*
 * binlog_charset.c - collation ids to character sets, and text to UTF-8.
 *
 * TABLE_MAP metadata gives each text column a collation id; the row image
 * holds the column's bytes in that collation's character set. The row model
 * wants UTF-8, so text is converted here: UTF-8 and ASCII pass through (the
 * value then points into the event), latin1 is converted by table (MySQL's
 * latin1 is Windows-1252 with the five holes mapped to C1 controls, which
 * iconv's CP1252 refuses), and everything else goes through iconv, with one
 * converter per character set kept open in the decoder.
 *
 * The id ranges follow MySQL 8 and MariaDB 10.x/11.x: MariaDB's NO PAD
 * collations are the PAD collation's id + 1024, and its UCA 14.0 collations
 * (2048..3327) keep the character set in bits 8..10 of the id.
 */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include "binlog_int.h"
#include "err.h"
#include "strbuf.h"

enum {
    CS_NONE = 0,
    CS_BIG5,
    CS_DEC8,
    CS_CP850,
    CS_HP8,
    CS_KOI8R,
    CS_LATIN1,
    CS_LATIN2,
    CS_SWE7,
    CS_ASCII,
    CS_UJIS,
    CS_SJIS,
    CS_HEBREW,
    CS_TIS620,
    CS_EUCKR,
    CS_KOI8U,
    CS_GB2312,
    CS_GREEK,
    CS_CP1250,
    CS_GBK,
    CS_LATIN5,
    CS_ARMSCII8,
    CS_UTF8MB3,
    CS_UCS2,
    CS_CP866,
    CS_KEYBCS2,
    CS_MACCE,
    CS_MACROMAN,
    CS_CP852,
    CS_LATIN7,
    CS_UTF8MB4,
    CS_CP1251,
    CS_UTF16,
    CS_UTF16LE,
    CS_CP1256,
    CS_CP1257,
    CS_UTF32,
    CS_BINARY,
    CS_GEOSTD8,
    CS_CP932,
    CS_EUCJPMS,
    CS_GB18030,
    CS_COUNT
};

static const bl_charset_t charsets[CS_COUNT] = {
    [CS_BIG5] = {"big5", 2},       [CS_DEC8] = {"dec8", 1},       [CS_CP850] = {"cp850", 1},
    [CS_HP8] = {"hp8", 1},         [CS_KOI8R] = {"koi8r", 1},     [CS_LATIN1] = {"latin1", 1},
    [CS_LATIN2] = {"latin2", 1},   [CS_SWE7] = {"swe7", 1},       [CS_ASCII] = {"ascii", 1},
    [CS_UJIS] = {"ujis", 3},       [CS_SJIS] = {"sjis", 2},       [CS_HEBREW] = {"hebrew", 1},
    [CS_TIS620] = {"tis620", 1},   [CS_EUCKR] = {"euckr", 2},     [CS_KOI8U] = {"koi8u", 1},
    [CS_GB2312] = {"gb2312", 2},   [CS_GREEK] = {"greek", 1},     [CS_CP1250] = {"cp1250", 1},
    [CS_GBK] = {"gbk", 2},         [CS_LATIN5] = {"latin5", 1},   [CS_ARMSCII8] = {"armscii8", 1},
    [CS_UTF8MB3] = {"utf8mb3", 3}, [CS_UCS2] = {"ucs2", 2},       [CS_CP866] = {"cp866", 1},
    [CS_KEYBCS2] = {"keybcs2", 1}, [CS_MACCE] = {"macce", 1},     [CS_MACROMAN] = {"macroman", 1},
    [CS_CP852] = {"cp852", 1},     [CS_LATIN7] = {"latin7", 1},   [CS_UTF8MB4] = {"utf8mb4", 4},
    [CS_CP1251] = {"cp1251", 1},   [CS_UTF16] = {"utf16", 4},     [CS_UTF16LE] = {"utf16le", 4},
    [CS_CP1256] = {"cp1256", 1},   [CS_CP1257] = {"cp1257", 1},   [CS_UTF32] = {"utf32", 4},
    [CS_BINARY] = {"binary", 1},   [CS_GEOSTD8] = {"geostd8", 1}, [CS_CP932] = {"cp932", 2},
    [CS_EUCJPMS] = {"eucjpms", 3}, [CS_GB18030] = {"gb18030", 4},
};

/* iconv's name of each set; NULL when ferry converts it itself or cannot. */
static const char *const iconv_names[CS_COUNT] = {
    [CS_BIG5] = "BIG5",
    [CS_CP850] = "CP850",
    [CS_HP8] = "HP-ROMAN8",
    [CS_KOI8R] = "KOI8-R",
    [CS_LATIN2] = "ISO-8859-2",
    [CS_UJIS] = "EUC-JP",
    [CS_SJIS] = "SHIFT_JIS",
    [CS_HEBREW] = "ISO-8859-8",
    [CS_TIS620] = "TIS-620",
    [CS_EUCKR] = "EUC-KR",
    [CS_KOI8U] = "KOI8-U",
    [CS_GB2312] = "GB2312",
    [CS_GREEK] = "ISO-8859-7",
    [CS_CP1250] = "CP1250",
    [CS_GBK] = "GBK",
    [CS_LATIN5] = "ISO-8859-9",
    [CS_ARMSCII8] = "ARMSCII-8",
    [CS_UCS2] = "UCS-2BE",
    [CS_CP866] = "CP866",
    [CS_MACCE] = "MACCENTRALEUROPE",
    [CS_MACROMAN] = "MACINTOSH",
    [CS_CP852] = "CP852",
    [CS_LATIN7] = "ISO-8859-13",
    [CS_CP1251] = "CP1251",
    [CS_UTF16] = "UTF-16BE",
    [CS_UTF16LE] = "UTF-16LE",
    [CS_CP1256] = "CP1256",
    [CS_CP1257] = "CP1257",
    [CS_UTF32] = "UTF-32BE",
    [CS_GEOSTD8] = "GEORGIAN-PS",
    [CS_CP932] = "CP932",
    [CS_EUCJPMS] = "EUC-JP-MS",
    [CS_GB18030] = "GB18030",
    [CS_DEC8] = "DEC-MCS",
};

/* Collation ids 1..99: the classic single table both servers share. */
static const uint8_t low_ids[100] = {
    [1] = CS_BIG5,     [2] = CS_LATIN2,    [3] = CS_DEC8,      [4] = CS_CP850,
    [5] = CS_LATIN1,   [6] = CS_HP8,       [7] = CS_KOI8R,     [8] = CS_LATIN1,
    [9] = CS_LATIN2,   [10] = CS_SWE7,     [11] = CS_ASCII,    [12] = CS_UJIS,
    [13] = CS_SJIS,    [14] = CS_CP1251,   [15] = CS_LATIN1,   [16] = CS_HEBREW,
    [18] = CS_TIS620,  [19] = CS_EUCKR,    [20] = CS_LATIN7,   [21] = CS_LATIN2,
    [22] = CS_KOI8U,   [23] = CS_CP1251,   [24] = CS_GB2312,   [25] = CS_GREEK,
    [26] = CS_CP1250,  [27] = CS_LATIN2,   [28] = CS_GBK,      [29] = CS_CP1257,
    [30] = CS_LATIN5,  [31] = CS_LATIN1,   [32] = CS_ARMSCII8, [33] = CS_UTF8MB3,
    [34] = CS_CP1250,  [35] = CS_UCS2,     [36] = CS_CP866,    [37] = CS_KEYBCS2,
    [38] = CS_MACCE,   [39] = CS_MACROMAN, [40] = CS_CP852,    [41] = CS_LATIN7,
    [42] = CS_LATIN7,  [43] = CS_MACCE,    [44] = CS_CP1250,   [45] = CS_UTF8MB4,
    [46] = CS_UTF8MB4, [47] = CS_LATIN1,   [48] = CS_LATIN1,   [49] = CS_LATIN1,
    [50] = CS_CP1251,  [51] = CS_CP1251,   [52] = CS_CP1251,   [53] = CS_MACROMAN,
    [54] = CS_UTF16,   [55] = CS_UTF16,    [56] = CS_UTF16LE,  [57] = CS_CP1256,
    [58] = CS_CP1257,  [59] = CS_CP1257,   [60] = CS_UTF32,    [61] = CS_UTF32,
    [62] = CS_UTF16LE, [63] = CS_BINARY,   [64] = CS_ARMSCII8, [65] = CS_ASCII,
    [66] = CS_CP1250,  [67] = CS_CP1256,   [68] = CS_CP866,    [69] = CS_DEC8,
    [70] = CS_GREEK,   [71] = CS_HEBREW,   [72] = CS_HP8,      [73] = CS_KEYBCS2,
    [74] = CS_KOI8R,   [75] = CS_KOI8U,    [76] = CS_UTF8MB3,  [77] = CS_LATIN2,
    [78] = CS_LATIN5,  [79] = CS_LATIN7,   [80] = CS_CP850,    [81] = CS_CP852,
    [82] = CS_SWE7,    [83] = CS_UTF8MB3,  [84] = CS_BIG5,     [85] = CS_EUCKR,
    [86] = CS_GB2312,  [87] = CS_GBK,      [88] = CS_SJIS,     [89] = CS_TIS620,
    [90] = CS_UCS2,    [91] = CS_UJIS,     [92] = CS_GEOSTD8,  [93] = CS_GEOSTD8,
    [94] = CS_LATIN1,  [95] = CS_CP932,    [96] = CS_CP932,    [97] = CS_EUCJPMS,
    [98] = CS_EUCJPMS, [99] = CS_CP1250,
};

/* Ranges above 99: the Unicode collations of both servers. */
static const struct {
    uint16_t lo, hi;
    uint8_t cs;
} ranges[] = {
    {101, 124, CS_UTF16},     {128, 151, CS_UCS2},    {159, 159, CS_UCS2},
    {160, 183, CS_UTF32},     {192, 215, CS_UTF8MB3}, {223, 223, CS_UTF8MB3},
    {224, 247, CS_UTF8MB4},   {248, 250, CS_GB18030}, {255, 323, CS_UTF8MB4},
    {576, 607, CS_UTF8MB3},   {608, 639, CS_UTF8MB4}, {640, 671, CS_UCS2},
    {672, 703, CS_UTF16},     {736, 767, CS_UTF32},   {2048, 2303, CS_UTF8MB3},
    {2304, 2559, CS_UTF8MB4}, {2560, 2815, CS_UCS2},  {2816, 3071, CS_UTF16},
    {3072, 3327, CS_UTF32},
};

static int charset_index(unsigned id)
{
    if (id >= 1024 && id < 2048)
        id -= 1024; /* MariaDB NO PAD twin */
    if (id < 100)
        return low_ids[id];
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
        if (id >= ranges[i].lo && id <= ranges[i].hi)
            return ranges[i].cs;
    return CS_NONE;
}

const bl_charset_t *ferry_binlog__charset(unsigned collation_id)
{
    int i = charset_index(collation_id);
    return i ? &charsets[i] : NULL;
}

const char *ferry_binlog_collation_charset(unsigned collation_id)
{
    const bl_charset_t *cs = ferry_binlog__charset(collation_id);
    return cs ? cs->name : NULL;
}

/* ---- conversion ------------------------------------------------------------------ */

struct bl_iconv {
    iconv_t cd[CS_COUNT];
    bool opened[CS_COUNT];
};

void ferry_binlog__iconv_free(ferry_binlog_decoder_t *d)
{
    if (!d->iconv)
        return;
    for (int i = 0; i < CS_COUNT; i++)
        if (d->iconv->opened[i] && d->iconv->cd[i] != (iconv_t)-1)
            iconv_close(d->iconv->cd[i]);
    free(d->iconv);
    d->iconv = NULL;
}

/* Windows-1252 code points of 0x80..0x9f, with MySQL's C1 controls in the holes. */
static const uint16_t latin1_high[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

static bool all_ascii(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] & 0x80)
            return false;
    return true;
}

static int latin1_to_utf8(ferry_arena_t *arena, const uint8_t *in, size_t len, const char **out,
                          size_t *out_len)
{
    char *o = ferry_arena_alloc(arena, len * 3 + 1);
    if (!o)
        return FERRY_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = in[i];
        uint32_t cp = b >= 0x80 && b < 0xA0 ? latin1_high[b - 0x80] : b;
        n += ferry_utf8_put(o + n, cp);
    }
    *out = o;
    *out_len = n;
    return 0;
}

static iconv_t converter(ferry_binlog_decoder_t *d, int cs)
{
    if (!d->iconv) {
        d->iconv = calloc(1, sizeof(*d->iconv));
        if (!d->iconv)
            return (iconv_t)-1;
    }
    if (!d->iconv->opened[cs]) {
        d->iconv->opened[cs] = true;
        d->iconv->cd[cs] = iconv_names[cs] ? iconv_open("UTF-8", iconv_names[cs]) : (iconv_t)-1;
    }
    return d->iconv->cd[cs];
}

int ferry_binlog__to_utf8(ferry_binlog_decoder_t *d, ferry_arena_t *arena, const bl_charset_t *cs,
                          const uint8_t *in, size_t len, const char **out, size_t *out_len)
{
    int idx = (int)(cs - charsets);
    bool ascii_compatible =
        idx != CS_UCS2 && idx != CS_UTF16 && idx != CS_UTF16LE && idx != CS_UTF32 && idx != CS_SWE7;
    if (idx == CS_UTF8MB3 || idx == CS_UTF8MB4 || idx == CS_BINARY ||
        (ascii_compatible && all_ascii(in, len))) {
        *out = (const char *)in;
        *out_len = len;
        return 0;
    }
    if (idx == CS_LATIN1)
        return latin1_to_utf8(arena, in, len, out, out_len);
    iconv_t cd = converter(d, idx);
    if (cd == (iconv_t)-1)
        return FERRY_ERR_UNSUPPORTED;
    size_t cap = len * 3 + 4;
    char *o = ferry_arena_alloc(arena, cap);
    if (!o)
        return FERRY_ERR_NOMEM;
    char *ip = (char *)(uintptr_t)in, *op = o;
    size_t il = len, ol = cap;
    iconv(cd, NULL, NULL, NULL, NULL);
    if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 || il != 0)
        return FERRY_ERR_INVALID;
    *out = o;
    *out_len = cap - ol;
    return 0;
}
