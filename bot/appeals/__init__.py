"""Appeals (异议申请): intake, the ticket lifecycle, what staff do to tickets, notices."""
