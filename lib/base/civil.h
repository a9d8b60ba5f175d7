/* SPDX-License-Identifier: Apache-2.0 */
/* UTC calendar dates without the C library's time zone machinery: day
 * numbers <-> proleptic Gregorian dates, "YYYY-MM-DD" keys, and the time
 * forms users type on a command line. */
#ifndef CP_CIVIL_H
#define CP_CIVIL_H

#include <stdint.h>

/** @brief Days since 1970-01-01 of year @p y, month @p m (1-12), day @p d. */
int64_t cp_days_from_civil(int64_t y, int m, int d);
/** @brief The date of day number @p days (since 1970-01-01). */
void cp_civil_from_days(int64_t days, int *y, int *m, int *d);
/** @brief Writes "YYYY-MM-DD" (10 chars + NUL) of the UTC day of @p ms. */
void cp_format_day(int64_t ms, char out[11]);
/** @brief The UTC day number (since 1970-01-01) of @p ms, floored, so
 *         times before 1970 stay on their own day. */
int64_t cp_day_of_ms(int64_t ms);
/**
 * @brief Parses a strict "YYYY-MM-DD" (a real date, year 2000 or later,
 *        nothing before or after it) into its day number.
 * @returns 0 with *@p days set, or -1.
 */
int cp_parse_day(const char *s, int64_t *days);
/** @brief Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 chars + NUL) of @p ms, for
 *         any int64 (years beyond 9999 take more digits: 32 bytes hold
 *         every value). */
void cp_format_iso_ms(int64_t ms, char out[32]);
/**
 * @brief Parses a time in UTC: ms since the epoch, or
 *        YYYY-MM-DD[(T| )HH:MM[:SS[.mmm]]][Z|(+|-)HH:MM] (an offset is
 *        taken back to UTC).
 * @returns 0 with *@p ms set, or -1 when @p s is none of these.
 */
int cp_parse_utc_time(const char *s, int64_t *ms);

#endif
