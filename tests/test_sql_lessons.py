def test_lesson_4_try_it_ticks_when_answered():
    wrong = "SELECT week, signups, LEAD(signups) OVER (ORDER BY week) AS prev_signups"
    printed, matrix_weeks = run_lesson(
        "04",
        {wrong: wrong.replace("LEAD", "LAG")},
        "matrix.groupby('cohort_week')['week_number'].max().tail(3).to_dict()",
    )
    assert "✅ try_1: right." in printed, printed
    # the lesson's heatmap data is the fixed matrix: the last cohorts end on fully observed weeks
    assert matrix_weeks == {"2025-06-02": 2, "2025-06-09": 1, "2025-06-16": 0}
