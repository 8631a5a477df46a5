"""The miniature pipeline's fixtures (the CI world, its warmed-up policy, the reduced run) live in
tests/trainer/conftest.py: test_rl_cpu_training.py resumes the reduced run's RL arm."""
