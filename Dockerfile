FROM python:3.11-slim
WORKDIR /app
# dependencies first, from the lock file: a code change does not reinstall them
COPY requirements/lock.txt requirements/lock.txt
RUN pip install --no-cache-dir -r requirements/lock.txt
COPY pyproject.toml README.md ./
COPY detector ./detector
COPY probes ./probes
RUN pip install --no-cache-dir --no-deps . && useradd --system detector && mkdir /data && chown detector /data
USER detector
WORKDIR /data
EXPOSE 9478
ENTRYPOINT ["detector"]
CMD ["run", "-c", "/etc/detector/detector.yaml"]
