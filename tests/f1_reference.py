"""What the raw Ergast f1 CSVs must be found to hold (the foundation issue's acceptance list)."""

#: (child table, foreign-key column, parent table): exactly these, and no other.
F1_FOREIGN_KEYS = {
    ("races", "circuitId", "circuits"),
    ("results", "raceId", "races"),
    ("results", "driverId", "drivers"),
    ("results", "constructorId", "constructors"),
    ("results", "statusId", "status"),
    ("driver_standings", "raceId", "races"),
    ("driver_standings", "driverId", "drivers"),
    ("constructor_results", "raceId", "races"),
    ("constructor_results", "constructorId", "constructors"),
    ("constructor_standings", "raceId", "races"),
    ("constructor_standings", "constructorId", "constructors"),
    ("qualifying", "raceId", "races"),
    ("qualifying", "driverId", "drivers"),
    ("qualifying", "constructorId", "constructors"),
}
