"""Shop API: customers create orders, upload their 3D model, submit, cancel and follow status."""
