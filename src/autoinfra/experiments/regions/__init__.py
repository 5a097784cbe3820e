"""Several regions, one runtime each in its own process, shifting load between them for energy.

Paper 3.3 has agents move work to where energy is cheaper. Here every region runs the same
geo-replicated services on its own machines (a simulated cell paced on the wall clock), serves a
share of each service's traffic, and tells the others its energy price and spare capacity over
the bus; a region that pays more hands share to a cheaper one that has room, by a two-step
exchange (shift, then acknowledgement) so that the shares always add up to the whole demand.
"""
