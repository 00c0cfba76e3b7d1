"""The data-generation gym: environment simulator + simulated user + our agent + a judge."""
