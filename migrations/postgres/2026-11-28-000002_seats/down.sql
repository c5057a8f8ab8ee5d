DROP TABLE guest_seats;
DROP TABLE seat_usage;
