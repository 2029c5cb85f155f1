"""The real-athlete side of CoachRL: the log store and the daily coach.

`coachrl.coach.store` keeps an athlete's logged days (readings, sessions,
habits) and the plans written for them, in SQLite by default.
"""
