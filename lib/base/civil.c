/* SPDX-License-Identifier: Apache-2.0 */
/* H. Hinnant's days_from_civil / civil_from_days algorithms. */
#include "civil.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int64_t cp_days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void cp_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    int64_t era, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    yoe = z - era * 146097;
    yoe = (yoe - yoe / 1460 + yoe / 36524 - yoe / 146096) / 365;
    doy = z - era * 146097 - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

int64_t cp_day_of_ms(int64_t ms)
{
    /* Floor without ms - 86399999, which overflows near INT64_MIN. */
    return ms / 86400000 - (ms % 86400000 < 0);
}

void cp_format_day(int64_t ms, char out[11])
{
    int y, m, d;

    cp_civil_from_days(cp_day_of_ms(ms), &y, &m, &d);
    put2(out, y / 100);
    put2(out + 2, y % 100);
    out[4] = '-';
    put2(out + 5, m);
    out[7] = '-';
    put2(out + 8, d);
    out[10] = '\0';
}

int cp_parse_day(const char *s, int64_t *days)
{
    int y = 0, m = 0, d = 0, dy, dm, dd;

    for (int i = 0; i < 10; i++) {
        int digit = i != 4 && i != 7;

        if (!s[i] || (digit ? !isdigit((unsigned char)s[i]) : s[i] != '-'))
            return -1;
    }
    if (s[10])
        return -1;
    y = atoi(s);
    m = atoi(s + 5);
    d = atoi(s + 8);
    if (y < 2000 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    *days = cp_days_from_civil(y, m, d);
    /* A date that does not exist (02-30, 02-29 of a common year) comes
     * back as another one. */
    cp_civil_from_days(*days, &dy, &dm, &dd);
    return dy == y && dm == m && dd == d ? 0 : -1;
}

void cp_format_iso_ms(int64_t ms, char out[32])
{
    int64_t day = cp_day_of_ms(ms);
    int64_t rem = ms % 86400000; /* ms - day * 86400000 could overflow */
    int y, m, d;

    if (rem < 0)
        rem += 86400000;
    cp_civil_from_days(day, &y, &m, &d);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d,
             (int)(rem / 3600000), (int)(rem / 60000 % 60),
             (int)(rem / 1000 % 60), (int)(rem % 1000));
}

int cp_parse_utc_time(const char *s, int64_t *ms)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, n = 0, offset_min = 0;
    bool has_time = false;
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (!*end && end != s && !errno && v >= 0 && isdigit((unsigned char)*s)) {
        *ms = v;
        return 0;
    }
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    s += n;
    if (*s == 'T' || *s == ' ') {
        if (sscanf(s + 1, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5)
            return -1;
        has_time = true;
        s += 1 + n;
        if (*s == ':') {
            if (sscanf(s + 1, "%2d%n", &sec, &n) != 1 || n != 2)
                return -1;
            s += 1 + n;
            if (*s == '.') {
                int digits = 0;

                for (s++; isdigit((unsigned char)*s); s++, digits++)
                    if (digits < 3)
                        frac = frac * 10 + (*s - '0');
                if (!digits)
                    return -1;
                for (; digits < 3; digits++)
                    frac *= 10;
            }
        }
    }
    if (*s == 'Z') {
        s++;
    } else if ((*s == '+' || *s == '-') && has_time) {
        /* A CRM's local time with its offset ("+03:00"): back to UTC. */
        int oh, om, on = 0, sign = *s == '-' ? -1 : 1;

        if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &on) != 2 || on != 5 ||
            oh > 23 || om > 59)
            return -1;
        offset_min = sign * (oh * 60 + om);
        s += 1 + on;
    }
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60)
        return -1;
    *ms = ((cp_days_from_civil(y, mo, d) * 24 + h) * 60 + mi - offset_min) *
              60000LL +
          sec * 1000LL + frac;
    return 0;
}
