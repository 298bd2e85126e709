FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY detector ./detector
COPY probes ./probes
RUN pip install --no-cache-dir . && useradd --system detector && mkdir /data && chown detector /data
USER detector
WORKDIR /data
EXPOSE 9478
ENTRYPOINT ["detector"]
CMD ["run", "-c", "/etc/detector/detector.yaml"]
