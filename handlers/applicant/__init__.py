"""What applicants do: welcome, language, booking, their registrations, asking the office."""
