"""What each job does with its snapshot, as plain functions that tests call without Prefect."""
