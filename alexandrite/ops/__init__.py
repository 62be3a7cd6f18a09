"""Operations: installing, configuring and starting the servers the platform runs on."""
