/* SPDX-License-Identifier: Apache-2.0 */
/* UTC dates: day numbers, "YYYY-MM-DD" keys, typed time forms. */
#include <criterion/criterion.h>

#include "civil.h"

Test(civil, day_numbers_round_trip_over_four_centuries)
{
    for (int64_t days = -146097; days <= 146097 * 2; days += 17) {
        int y, m, d;

        cp_civil_from_days(days, &y, &m, &d);
        cr_assert_eq(cp_days_from_civil(y, m, d), days, "day %lld",
                     (long long)days);
    }
    cr_assert_eq(cp_days_from_civil(1970, 1, 1), 0);
    cr_assert_eq(cp_days_from_civil(2000, 3, 1), 11017);
}

Test(civil, days_format_in_utc)
{
    char day[11];

    cp_format_day(946684800000LL, day);
    cr_assert_str_eq(day, "2000-01-01");
    cp_format_day(1709251199999LL, day);
    cr_assert_str_eq(day, "2024-02-29");
    cp_format_day(1709251200000LL, day);
    cr_assert_str_eq(day, "2024-03-01");
    cp_format_day(-1, day);
    cr_assert_str_eq(day, "1969-12-31");
}

Test(civil, typed_times_parse_in_utc)
{
    int64_t ms = 0;

    cr_assert_eq(cp_parse_utc_time("1795342530000", &ms), 0);
    cr_assert_eq(ms, 1795342530000LL);
    cr_assert_eq(cp_parse_utc_time("2026-11-22", &ms), 0);
    cr_assert_eq(ms, 1795305600000LL);
    cr_assert_eq(cp_parse_utc_time("2026-11-22T10:15", &ms), 0);
    cr_assert_eq(ms, 1795342500000LL);
    cr_assert_eq(cp_parse_utc_time("2026-11-22 10:15:30Z", &ms), 0);
    cr_assert_eq(ms, 1795342530000LL);
    cr_assert_eq(cp_parse_utc_time("2026-11-22T10:15:30.25Z", &ms), 0);
    cr_assert_eq(ms, 1795342530250LL);
    /* A CRM's local time with its offset is the same instant in UTC. */
    cr_assert_eq(cp_parse_utc_time("2026-11-22T13:15:30+03:00", &ms), 0);
    cr_assert_eq(ms, 1795342530000LL);
    cr_assert_eq(cp_parse_utc_time("2026-11-22T05:45:30-04:30", &ms), 0);
    cr_assert_eq(ms, 1795342530000LL);
    cr_assert_eq(cp_parse_utc_time("2026-11-22+03:00", &ms), -1);
    cr_assert_eq(cp_parse_utc_time("2026-11-22T13:15+3", &ms), -1);
    cr_assert_eq(cp_parse_utc_time("2026-11-22T13:15+24:00", &ms), -1);
    cr_assert_eq(cp_parse_utc_time("2026-13-01", &ms), -1);
    cr_assert_eq(cp_parse_utc_time("2026-11-22T25:00", &ms), -1);
    cr_assert_eq(cp_parse_utc_time("22/11/2026", &ms), -1);
    cr_assert_eq(cp_parse_utc_time("2026-11-22x", &ms), -1);
    cr_assert_eq(cp_parse_utc_time("-5", &ms), -1);
    cr_assert_eq(cp_parse_utc_time("", &ms), -1);
}

/* The board's ?date= and its SCAN of day keys: strict dates only. */
Test(civil, strict_day_parse)
{
    int64_t days = -1;

    cr_assert_eq(cp_parse_day("2024-02-29", &days), 0);
    cr_assert_eq(days, cp_days_from_civil(2024, 2, 29));
    cr_assert_eq(cp_parse_day("2023-02-29", &days), -1, "common year");
    cr_assert_eq(cp_parse_day("2024-04-31", &days), -1);
    cr_assert_eq(cp_parse_day("1999-12-31", &days), -1, "before 2000");
    cr_assert_eq(cp_parse_day("2024-1-01", &days), -1);
    cr_assert_eq(cp_parse_day("2024-01-01x", &days), -1);
    cr_assert_eq(cp_parse_day("2024-01-0", &days), -1);
    cr_assert_eq(cp_parse_day("", &days), -1);
}

/* Every int64, INT64_MIN included, has a day and an ISO form (the codec's
 * DLQ reasons print out-of-range timestamps with it). */
Test(civil, iso_ms_for_every_int64)
{
    char out[32];

    cp_format_iso_ms(0, out);
    cr_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
    cp_format_iso_ms(-1, out);
    cr_assert_str_eq(out, "1969-12-31T23:59:59.999Z");
    cp_format_iso_ms(1709251199999LL, out);
    cr_assert_str_eq(out, "2024-02-29T23:59:59.999Z");
    cr_assert_eq(cp_day_of_ms(-1), -1);
    cr_assert_eq(cp_day_of_ms(-86400000), -1);
    cr_assert_eq(cp_day_of_ms(-86400001), -2);
    cr_assert_eq(cp_day_of_ms(INT64_MIN), INT64_MIN / 86400000 - 1);
    cp_format_iso_ms(INT64_MIN, out);
    cr_assert_str_eq(out, "-292275055-05-16T16:47:04.192Z");
    cp_format_iso_ms(INT64_MAX, out);
    cr_assert_str_eq(out, "292278994-08-17T07:12:55.807Z");
}
