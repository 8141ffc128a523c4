/* list.h — every test with its timeout in seconds, and every helper. */
#define TESTS(X)                          \
	X(address_parse, 10)              \
	X(address_format_roundtrip, 10)   \
	X(environ_systemd_protocol, 20)   \
	X(environ_bad_input, 20)          \
	X(listen_families, 20)            \
	X(listen_match_by_name, 20)       \
	X(upgrade_passes_listeners, 30)   \
	X(upgrade_changes_port_set, 30)   \
	X(upgrade_one_at_a_time, 30)      \
	X(no_descriptor_leaks, 30)        \
	X(unix_path_lifecycle, 30)        \
	X(pidfile_rules, 30)              \
	X(notify_messages, 30)            \
	X(httpd_bad_input, 20)            \
	X(httpd_upgrade_under_load, 120)  \
	X(httpd_failed_upgrades, 120)     \
	X(httpd_sighup_burst, 120)        \
	X(rule03_nonblock_untouched, 20)  \
	X(rule06_busy_unix_path_in_use, 20) \
	X(rule10_exec_path_from_argv0, 30) \
	X(rule12_newer_protocol_version, 30) \
	X(rule14_httpd_drain_deadline, 30) \
	X(rule15_httpd_idle_keepalive_drain, 30) \
	X(rule18_notify_barrier, 30)      \
	X(rule20_successor_signal_state, 30) \
	X(rule22_descriptors_above_stdio, 20) \
	X(supervisor_socket_activation, 30) \
	X(supervisor_options, 30)         \
	X(supervisor_control_peer_check, 30) \
	X(supervisor_reloads_httpd_under_load, 60) \
	X(supervisor_reloads_python_under_load, 60) \
	X(supervisor_failed_reloads, 60) \
	X(supervisor_leaves_no_strays, 30) \
	X(supervisor_restarts_crashed_generation, 60) \
	X(supervisor_restart_backoff_forgives, 60) \
	X(supervisor_daemon, 60)           \
	X(supervisor_stale_pidfile_and_symlink, 60) \
	X(supervisor_bad_input, 60)        \
	X(supervisor_systemd_notifications, 60) \
	X(supervisor_user_nobody, 60)     \
	X(chaos_short, 120)               \
	X(chaos_long, 7200)

#define HELPERS(X)   \
	X(inherit)   \
	X(server)
