# The official Airflow image extended with this provider (and its sandbox extra, so the
# `sandbox` service of docker-compose.yaml runs from the same image).
#
#   docker compose build            # or: docker build -t airflow-creative-provider .
#
# The base tag is the Airflow version locked in uv.lock (tests/test_docker_compose.py checks
# it). Airflow itself stays pinned: the install names apache-airflow==$AIRFLOW_VERSION (set by
# the base image) and uses Airflow's published constraints for the image's Python version.
FROM apache/airflow:3.3.2

COPY --chown=airflow:root pyproject.toml README.md /opt/airflow-creative-provider/
COPY --chown=airflow:root airflow_creative_provider /opt/airflow-creative-provider/airflow_creative_provider

RUN PYTHON_VERSION="$(python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" \
    && pip install --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" \
        "/opt/airflow-creative-provider[sandbox]" \
        --constraint "https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/constraints-${PYTHON_VERSION}.txt" \
    && creative-sandbox --help >/dev/null
